"""Tools that run the network: engagement reports, moderation, the audit log, data rights."""
