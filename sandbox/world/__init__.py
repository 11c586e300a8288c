"""The simulated serverless world that fills the sandbox endpoint."""
