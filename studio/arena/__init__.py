"""Open arenas: choosing the next comparison from the votes so far (matchmaking) and the simulation
that measures how many votes a policy needs to recover a known ranking."""
