"""CloudWatch backends of the sandbox endpoint: metrics and alarms."""
