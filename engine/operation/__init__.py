"""Operation: the jobs the platform runs by itself (Platform: schedule), each due run once."""
