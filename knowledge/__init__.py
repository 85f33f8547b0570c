"""Documents, chunking, embeddings, the Postgres schema and search: the product's persistent memory."""
