"""Social accounts and publishing: connect platform accounts, schedule posts, publish each exactly once."""
