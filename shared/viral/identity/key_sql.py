"""The API-key lookup statement, shared by the ORM repository and the authorizer's SQLAlchemy-free path."""

# One statement: find an active key by its hash, stamp its last use at most once a minute (so a busy key does
# not rewrite its row on every request), and read its owner's role. One parameter: `:key_hash`.
FIND_KEY_SQL = """
with found as (
  select k.id, k.tenant_id, k.user_id, k.scopes, k.last_used_at,
         coalesce((select u.role from users u where u.id = k.user_id), 'MEMBER') as role
    from api_keys k
   where k.key_hash = :key_hash and k.revoked_at is null
), touched as (
  update api_keys set last_used_at = now()
    from found
   where api_keys.id = found.id
     and (found.last_used_at is null or found.last_used_at < now() - interval '60 seconds')
)
select id, tenant_id, user_id, scopes, role from found
"""
