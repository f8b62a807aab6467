"""Microsoft identity platform (client credentials) and the App Service managed identity endpoint."""

from .models import IdentityBackend
from .urls import login_routes, msi_routes

__all__ = ["IdentityBackend", "login_routes", "msi_routes"]
