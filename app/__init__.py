"""The service: HTTP, storage, the turn log and the WeChat API. The only layer that does I/O."""
