"""Live stylisation: threaded capture, the newest frame first, a window or headless."""
