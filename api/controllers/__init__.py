"""HTTP controllers: read the request, call one service, return a DTO."""
