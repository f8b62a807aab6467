"""SharePoint list webhooks: a "Guest requests" list whose rows are onboarded by the core flow and
report their outcome back. See docs/sharepoint.md."""
