"""The embedded default: a local AWS endpoint and (soon) a simulated serverless world in it."""
