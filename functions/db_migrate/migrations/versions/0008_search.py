"""Search and analytics at scale: one trigram-indexed search document per generation, served through a
SECURITY DEFINER function owned by a search-only role; trend topics as a text array, in a covering index, for
analytics.

Row-level security lets only leakproof operators become index conditions, and LIKE is not leakproof, so under
the tenant policy the trigram indexes were never used. The function runs as `viral_search`, whose own policy
(`USING (true)`) adds no security qual; it filters by the tenant bound to the transaction itself.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

RUNTIME_ROLE = "viral_app"
SEARCH_ROLE = "viral_search"
TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
FUNCTION = "search_generation_ids(text, integer)"
# The newest generations read by date before falling back to the index (most searches end there).
RECENT_WINDOW = 2000
MAX_IDS = 500  # storage.MAX_PAGE

_SEARCH_FUNCTION = f"""
CREATE FUNCTION public.search_generation_ids(pattern text, lim integer) RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 50
SET search_path = pg_catalog, public, pg_temp
AS $fn$
DECLARE
  tenant uuid := {TENANT};
  wanted integer := least(greatest(coalesce(lim, 0), 0), {MAX_IDS});
  recent text[];
  scanned integer;
BEGIN
  IF tenant IS NULL OR pattern IS NULL OR wanted = 0 THEN
    RETURN;
  END IF;
  SELECT count(*)::integer,
         (array_agg(w.id::text ORDER BY w.date DESC, w.id) FILTER (WHERE w.search_doc LIKE pattern))[1:wanted]
    INTO scanned, recent
    FROM (SELECT g.id, g.date, g.search_doc FROM public.generations g
           WHERE g.tenant_id = tenant ORDER BY g.date DESC, g.id LIMIT {RECENT_WINDOW}) w;
  IF scanned < {RECENT_WINDOW} OR coalesce(cardinality(recent), 0) >= wanted THEN
    RETURN QUERY SELECT unnest(coalesce(recent, '{{}}'::text[]));
    RETURN;
  END IF;
  -- Planned on each call with the real pattern, so a selective one goes through the trigram index.
  RETURN QUERY EXECUTE
    'SELECT g.id::text FROM public.generations g WHERE g.tenant_id = $1 AND g.search_doc LIKE $2 '
    'ORDER BY g.date DESC, g.id LIMIT $3'
    USING tenant, pattern, wanted;
END
$fn$
"""

# search_doc: the trend text and each concept's search text, in order, joined by the unit separator (which the
# search strips from queries, so no match spans two fields).
_BACKFILL = r"""
UPDATE generations g SET
  trend_topics = ARRAY(SELECT e.t ->> 'topic' FROM jsonb_array_elements(g.trends) WITH ORDINALITY AS e(t, n)
                        WHERE e.t ? 'topic' ORDER BY e.n),
  search_doc = array_to_string(
    array_prepend(g.trend_text, ARRAY(SELECT c.search_text FROM concepts c
                                       WHERE c.tenant_id = g.tenant_id AND c.generation_id = g.id
                                       ORDER BY c.position)),
    E'\x1f')
"""


def _create_role(name: str) -> None:
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
            CREATE ROLE {name} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$""")
    op.execute(f"GRANT {name} TO CURRENT_USER")


def upgrade() -> None:
    _create_role(SEARCH_ROLE)
    op.add_column("generations", sa.Column("search_doc", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "generations",
        sa.Column("trend_topics", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    )
    # A migration user that owns the tables (not a superuser) is itself held by FORCEd RLS: lift it for the
    # backfill only, inside this transaction (the ALTER locks the tables until commit).
    for table in ("generations", "concepts"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(_BACKFILL)
    for table in ("generations", "concepts"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.create_index(
        "ix_generations_search_doc_trgm",
        "generations",
        ["search_doc"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_doc": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_generations_tenant_topics", "generations", ["tenant_id"], unique=False, postgresql_include=["trend_topics"]
    )
    op.drop_index("ix_generations_trend_text_trgm", table_name="generations")
    op.drop_index("ix_concepts_search_text_trgm", table_name="concepts")

    op.execute(f"GRANT USAGE ON SCHEMA public TO {SEARCH_ROLE}")
    op.execute(f"GRANT SELECT (tenant_id, id, date, search_doc) ON generations TO {SEARCH_ROLE}")
    op.execute(f"CREATE POLICY search_read ON generations FOR SELECT TO {SEARCH_ROLE} USING (true)")
    op.execute(_SEARCH_FUNCTION)
    # The new owner needs CREATE on the schema for the ownership change only (superusers skip the check).
    op.execute(f"GRANT CREATE ON SCHEMA public TO {SEARCH_ROLE}")
    op.execute(f"ALTER FUNCTION {FUNCTION} OWNER TO {SEARCH_ROLE}")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {SEARCH_ROLE}")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO {RUNTIME_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {FUNCTION}")
    op.execute("DROP POLICY search_read ON generations")
    op.execute(f"REVOKE ALL ON generations FROM {SEARCH_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {SEARCH_ROLE}")
    op.create_index(
        "ix_concepts_search_text_trgm",
        "concepts",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_generations_trend_text_trgm",
        "generations",
        ["trend_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"trend_text": "gin_trgm_ops"},
    )
    op.drop_index("ix_generations_tenant_topics", table_name="generations")
    op.drop_index(
        "ix_generations_search_doc_trgm",
        table_name="generations",
        postgresql_using="gin",
        postgresql_ops={"search_doc": "gin_trgm_ops"},
    )
    op.drop_column("generations", "trend_topics")
    op.drop_column("generations", "search_doc")
    # The role is cluster-wide and may serve other databases, so it stays (as 0001's roles do).
