"""Products: the workspace's catalog."""
