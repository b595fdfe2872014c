"""Authentication, roles, data scopes, device credentials and the audit log."""
