"""Morning health check (晨检): every staff member, every day, before the kitchen opens."""
