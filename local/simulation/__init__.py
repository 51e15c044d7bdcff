"""`viral simulate`: the autonomous business run for days on a simulated clock (see local.simulation.run)."""
