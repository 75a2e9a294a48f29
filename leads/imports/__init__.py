"""CSV import of contacts and leads: `import_leads` and the dashboard's import pages share these services.

Interface for other parts: `email_is_placeholder(email)` tells the stand-in address of a contact imported
without email (never send to it); the `ContactsImported` event announces a finished import.
"""

from leads.imports.spec import PLACEHOLDER_DOMAIN, email_is_placeholder, placeholder_email

__all__ = ["PLACEHOLDER_DOMAIN", "email_is_placeholder", "placeholder_email"]
