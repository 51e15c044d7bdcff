"""Set-based seeding: generations and concepts built inside PostgreSQL from word lists, as the owner.

Text columns follow the app's rules exactly (viral.content.repository): `search_text` is the lower-cased
title, caption, hashtags and trend source joined by spaces; `trend_text` the lower-cased topics joined by spaces;
`trend_topics` the topics; `search_doc` the trend text and the concepts' search texts joined by the unit separator.
Every value but the dates is a hash of (generation, position, salt), so the data is the same on every run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import pg8000.native
from sqlalchemy import URL

from bench import corpus
from bench.common import owner_connection

TRENDS_PER_GENERATION = 5
CONCEPTS_PER_GENERATION = 10
# Topic popularity: index = floor(T * u ** SKEW), so a few topics are everywhere and the tail is rare.
TOPIC_SKEW = 2.5
SEED_SETTINGS = (
    "set synchronous_commit = off",
    "set maintenance_work_mem = '1GB'",
    "set max_parallel_maintenance_workers = 2",
    # Rows are consistent by construction, so the load skips the foreign-key triggers.
    "set session_replication_role = replica",
)


def _hash(key: str, salt: int) -> str:
    return f"(hashint8extended({key}, {salt}) & 2147483647)"


def _pick(key: str, salt: int, n: int) -> str:
    """SQL for a uniform integer in [0, n) derived from `key`."""
    return f"({_hash(key, salt)} % {n})::int"


def _topic(key: str, salt: int, topics: int) -> str:
    """SQL for a skewed topic index in [0, topics)."""
    return f"floor({topics} * power({_hash(key, salt)}::float8 / 2147483648.0, {TOPIC_SKEW}))::int"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _capitalized(word: str) -> str:
    return f"(upper(left({word}, 1)) || substr({word}, 2))"


def _filled(template: str) -> str:
    """SQL filling a corpus template (the same placeholders corpus._fill replaces)."""
    text = template
    for placeholder, value in (("{a}", "w.adjective"), ("{n}", "w.noun"), ("{v}", "w.verb"), ("{t}", "w.topic")):
        text = f"replace({text}, '{placeholder}', {value})"
    return f"replace(replace({text}, '{{A}}', {_capitalized('w.adjective')}), '{{k}}', w.part::text)"


def _generations_sql(topics: int) -> str:
    """Generations of the slice, with the search document built from the concepts inserted by the same statement
    (the `inserted` CTE, see _seed_range)."""
    trend = "g::bigint * 8 + j"
    return f"""
insert into generations (tenant_id, id, date, trends, is_favorite, trend_text, trend_topics, search_doc, created_at)
select :tenant::uuid, 'gen-' || lpad(to_hex(g), 10, '0'), d.at, t.trends, g % 37 = 0, t.trend_text, t.trend_topics,
       concat_ws(chr(31), t.trend_text, docs.doc), d.at
from generate_series(:lo::int, :hi::int) g
cross join lateral (select :newest::timestamptz - make_interval(secs => (:count::int - g) * :step::float8) as at) d
cross join lateral (
  select jsonb_agg(jsonb_build_object(
           'id', 'trend-' || to_hex(g) || '-' || j,
           'topic', tp.text,
           'source', (:sources::text[])[1 + {_pick(trend, 2, len(corpus.SOURCES))}],
           'score', round({_hash(trend, 3)} % 89000 / 100.0 + 10, 1),
           'recency', (:recencies::text[])[1 + {_pick(trend, 4, len(corpus.RECENCIES))}],
           'visualPotential', 20 + {_pick(trend, 5, 81)},
           'emotionalImpact', 20 + {_pick(trend, 6, 81)},
           'shareability', 20 + {_pick(trend, 7, 81)},
           'category', tp.category,
           'sourceApi', (:source_apis::text[])[1 + {_pick(trend, 2, len(corpus.SOURCES))}]
         ) order by j) as trends,
         lower(string_agg(tp.text, ' ' order by j)) as trend_text,
         array_agg(tp.text order by j) as trend_topics
  from generate_series(0, {TRENDS_PER_GENERATION - 1}) j
  join bench_topics tp on tp.idx = {_topic(trend, 1, topics)}
) t
left join (
  select generation_id, string_agg(search_text, chr(31) order by position) as doc from inserted group by generation_id
) docs on docs.generation_id = 'gen-' || lpad(to_hex(g), 10, '0')
"""


def _concept_words_sql(topics: int) -> str:
    """The inner select: one row per concept with its chosen words (same trend as the generation's j = p % 5)."""
    key = "g::bigint * 16 + p"
    trend = f"g::bigint * 8 + p % {TRENDS_PER_GENERATION}"
    n_cat, n_noun, n_tag = len(corpus.CATEGORIES), corpus.NOUNS_PER_CATEGORY, corpus.TAGS_PER_CATEGORY
    tag_1 = _pick(key, 14, n_tag)
    return f"""
  select g, p, c.cat, tp.text as topic, tp.name as topic_tag,
         'gen-' || lpad(to_hex(g), 10, '0') as gid,
         'gen-' || lpad(to_hex(g), 10, '0') || '-c' || p as cid,
         (:categories::text[])[1 + c.cat] as category,
         (:nouns::text[])[1 + c.cat * {n_noun} + {_pick(key, 12, n_noun)}] as noun,
         (:adjectives::text[])[1 + {_pick(key, 13, len(corpus.ADJECTIVES))}] as adjective,
         (:verbs::text[])[1 + {_pick(key, 15, len(corpus.VERBS))}] as verb,
         (:tags::text[])[1 + c.cat * {n_tag} + {tag_1}] as tag_1,
         (:tags::text[])[1 + c.cat * {n_tag} + ({tag_1} + 1 + {_pick(key, 16, n_tag - 1)}) % {n_tag}] as tag_2,
         (:generic_tags::text[])[1 + {_pick(key, 17, len(corpus.GENERIC_TAGS))}] as generic_tag,
         1 + {_pick(key, 18, 40)} as part,
         {_pick(key, 19, len(corpus.TITLE_TEMPLATES))} as title_template,
         {_pick(key, 20, len(corpus.CAPTION_TEMPLATES))} as caption_template,
         {_hash(key, 21)} as h
  from generate_series(:lo::int, :hi::int) g
  cross join generate_series(0, {CONCEPTS_PER_GENERATION - 1}) p
  cross join lateral (select {_pick(key, 11, n_cat)} as cat) c
  join bench_topics tp on tp.idx = {_topic(trend, 1, topics)}
"""


def _concepts_sql(topics: int) -> str:
    titles = " ".join(f"when {i} then {_filled(_literal(t))}" for i, t in enumerate(corpus.TITLE_TEMPLATES))
    captions = " ".join(f"when {i} then {_filled(_literal(t))}" for i, t in enumerate(corpus.CAPTION_TEMPLATES))
    cameras, hooks = len(corpus.CAMERAS), len(corpus.HOOKS)
    return f"""
insert into concepts (tenant_id, id, generation_id, position, title, category, trend_source, data, search_text)
select :tenant::uuid, x.cid, x.gid, x.p, x.title, x.category, x.topic,
  jsonb_build_object(
    'id', x.cid,
    'title', x.title,
    'script', jsonb_build_array(
      jsonb_build_object('timeRange', '0-3s', 'visual', 'A ' || x.adjective || ' ' || x.noun || ' close to camera',
                         'onScreenText', x.title, 'camera', (:cameras::text[])[1 + x.h % {cameras}]),
      jsonb_build_object('timeRange', '3-10s', 'visual', 'The ' || x.noun || ' reacts to ' || x.topic,
                         'onScreenText', null, 'camera', (:cameras::text[])[1 + x.h / 7 % {cameras}]),
      jsonb_build_object('timeRange', '10-15s', 'visual', 'Reveal: ' || x.caption,
                         'onScreenText', 'Follow for part 2', 'camera', (:cameras::text[])[1 + x.h / 49 % {cameras}])),
    'soraPrompt', 'vertical video (9:16) of a ' || x.adjective || ' ' || x.noun || ', ' || x.topic
                  || ', cinematic lighting',
    'veoPrompt', 'vertical 9:16 clip, a ' || x.noun || ' and ' || x.topic || ', natural light, shallow depth of field',
    'caption', x.caption,
    'hashtags', to_jsonb(x.hashtags),
    'postTime', jsonb_build_object('utc', '2026-11-24T17:00:00Z', 'est', '12:00 PM EST', 'reason', 'lunch scroll peak'),
    'whyItWorks', (:hooks::text[])[1 + x.h / 343 % {hooks}],
    'trendSource', x.topic,
    'category', x.category,
    'platformVirality', jsonb_build_object(
      'tiktok', jsonb_build_object('score', 40 + x.h % 56, 'label', 'HIGH REACH',
                                   'factors', '["hook", "trend"]'::jsonb),
      'youtubeShorts', jsonb_build_object('score', 30 + x.h / 56 % 61, 'label', 'MEDIUM REACH',
                                          'factors', '["loop"]'::jsonb))),
  lower(x.title || ' ' || x.caption || ' ' || array_to_string(x.hashtags, ' ') || ' ' || x.topic)
from (
  select w.*,
         case w.title_template {titles} end as title,
         case w.caption_template {captions} end as caption,
         array['#' || w.tag_1, '#' || w.tag_2, '#' || w.generic_tag, '#' || w.topic_tag] as hashtags
  from ({_concept_words_sql(topics)}) w
) x
returning generation_id, position, search_text
"""


def vocabulary() -> dict[str, list[str]]:
    """The word lists as flat arrays (per-category lists concatenated in category order)."""
    return {
        "categories": list(corpus.CATEGORIES),
        "nouns": [n for c in corpus.CATEGORIES for n in corpus.NOUNS[c]],
        "tags": [t for c in corpus.CATEGORIES for t in corpus.TAGS[c]],
        "generic_tags": list(corpus.GENERIC_TAGS),
        "adjectives": list(corpus.ADJECTIVES),
        "verbs": list(corpus.VERBS),
        "cameras": list(corpus.CAMERAS),
        "hooks": list(corpus.HOOKS),
        "sources": list(corpus.SOURCES),
        "source_apis": list(corpus.SOURCE_APIS),
        "recencies": list(corpus.RECENCIES),
    }


_GENERATION_PARAMS = ("sources", "recencies", "source_apis")
_CONCEPT_PARAMS = ("categories", "nouns", "tags", "generic_tags", "adjectives", "verbs", "cameras", "hooks")


@contextmanager
def _connected(url: URL, *settings: str) -> Iterator[pg8000.native.Connection]:
    connection = owner_connection(url)
    try:
        for setting in settings:
            connection.run(setting)
        yield connection
    finally:
        connection.close()


def load_topics(url: URL, topics: list[corpus.Topic]) -> None:
    """The topic table the seeding SQL joins (dropped by drop_topics)."""
    with _connected(url) as connection:
        connection.run("create unlogged table bench_topics (idx int primary key, text text, name text, category text)")
        connection.run(
            "insert into bench_topics select * from unnest(:idx::int[], :text::text[], :name::text[], :cat::text[])",
            idx=[t.index for t in topics],
            text=[t.text for t in topics],
            name=[t.name for t in topics],
            cat=[t.category for t in topics],
        )


def drop_topics(url: URL) -> None:
    """Drop the topic table load_topics made."""
    with _connected(url) as connection:
        connection.run("drop table if exists bench_topics")


def _seed_range(url: URL, statements: tuple[str, str], params: dict[str, object]) -> None:
    """Insert one slice of a tenant's concepts and generations in one statement, on its own connection."""
    words = vocabulary()
    generations, concepts = statements
    with _connected(url, *SEED_SETTINGS) as connection:
        connection.run(
            f"with inserted as ({concepts}) {generations}",
            **params,
            **{k: words[k] for k in (*_GENERATION_PARAMS, *_CONCEPT_PARAMS)},
        )


def seed_tenant(url: URL, tenant: uuid.UUID, *, count: int, topics: int, span_days: int, workers: int = 2) -> None:
    """Seed `count` generations of ten concepts for `tenant`, dated over the last `span_days` days."""
    statements = (_generations_sql(topics), _concepts_sql(topics))
    common = {
        "tenant": str(tenant),
        "count": count,
        "newest": datetime.now(UTC),
        "step": span_days * 86400 / count,
    }
    bounds = [(1 + count * i // workers, count * (i + 1) // workers) for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_seed_range, url, statements, {**common, "lo": lo, "hi": hi}) for lo, hi in bounds]
        for future in futures:
            future.result()


def _content_indexes(connection: pg8000.native.Connection) -> list[tuple[str, str]]:
    rows = connection.run(
        "select indexname, indexdef from pg_indexes where schemaname = 'public' "
        "and tablename in ('generations', 'concepts') and indexname like 'ix\\_%' order by indexname"
    )
    return [(name, definition) for name, definition in rows]


def drop_content_indexes(url: URL) -> list[tuple[str, str]]:
    """Drop the secondary indexes of generations and concepts (a bulk load is faster without them)."""
    with _connected(url) as connection:
        indexes = _content_indexes(connection)
        for name, _ in indexes:
            connection.run(f"drop index {name}")
        return indexes


def create_indexes(url: URL, indexes: list[tuple[str, str]]) -> None:
    """Recreate the dropped indexes from their exact definitions, two at a time."""

    def build(definition: str) -> None:
        with _connected(url, *SEED_SETTINGS) as connection:
            connection.run(definition)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(build, [definition for _, definition in indexes]))


def vacuum_analyze(url: URL) -> None:
    """Fresh statistics and visibility map, as a long-lived database would have."""
    with _connected(url) as connection:
        connection.run("vacuum (analyze) generations, concepts, tenants")
