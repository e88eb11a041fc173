"""The MCP server: accelsage's tools and paper cards for MCP clients (desktop apps, IDEs, agents).

``tools.py`` holds the tools (thin calls into the functions the REST routes use), ``resources.py`` the
paper cards, ``server.py`` builds the server from both, ``http.py`` mounts it at ``/mcp`` in the HTTP app;
``accelsage mcp`` (``api/commands/mcp.py``) serves the same server over stdio.
"""
