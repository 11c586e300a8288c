"""stormwatch's contact with AWS: configuration, clients, discovery, sources, the store."""
