"""SharePoint: Graph's sites/lists/items/delta, SharePoint REST's list webhook subscriptions, and the delivery
of webhook notifications by real HTTP POST."""

from .models import SharePointBackend
from .urls import sharepoint_graph_routes, sharepoint_rest_routes

__all__ = ["SharePointBackend", "sharepoint_graph_routes", "sharepoint_rest_routes"]
