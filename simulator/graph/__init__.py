"""Microsoft Graph v1.0: users, invitations, groups, memberships, $batch."""

from .models import GraphBackend
from .urls import graph_routes

__all__ = ["GraphBackend", "graph_routes"]
