"""HTTP fronts inside the relay's event loop (aiohttp): the metrics listener now, the API later."""
