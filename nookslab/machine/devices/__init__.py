"""Device models attached to the simulated machine."""
