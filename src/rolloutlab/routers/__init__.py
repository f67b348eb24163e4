"""Traffic routers: real data planes that carry out a RoutingState."""
