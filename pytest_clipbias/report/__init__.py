"""Reports built from recorded results: terminal summary, JSON, HTML, baselines."""
