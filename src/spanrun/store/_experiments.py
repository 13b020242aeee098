"""Experiment methods of the SQL store (a mixin of SqlAlchemyStore)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from spanrun.core.entities import Experiment, PagedList, RunTag, ViewType
from spanrun.errors import (
    AlreadyExistsError,
    InvalidFilterError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from spanrun.store import _models as m
from spanrun.store._common import (
    ACTIVE,
    DELETED,
    check_length,
    checked_key,
    chunks,
    experiment_key,
    now_ms,
    to_uri,
)
from spanrun.store._db import Database
from spanrun.store._search_filter import parse_filter, parse_order_by
from spanrun.store._search_sql import (
    JOINED_CLAUSES,
    all_of,
    check_max_results,
    compare,
    decode_page_token,
    encode_page_token,
    lifecycle_condition,
    opaque,
)
from spanrun.store.base import DEFAULT_EXPERIMENT_ID

__all__ = ["ExperimentMethods"]


class ExperimentMethods:
    """create/get/search/delete/restore/rename experiments and set their tags."""

    artifact_root: str
    _db: Database
    _insert: Callable[[sa.Table], Any]
    _experiment_stmt: sa.Select[Any]

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[RunTag] = ()
    ) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"Experiment name must be a non-empty string, got {name!r}")
        check_length(name, 256, "Experiment name")
        location = to_uri(artifact_location) if artifact_location else None

        def create(conn: sa.Connection) -> str:
            self._check_name_free(conn, name)
            now = now_ms()
            experiment_id = conn.execute(
                sa.insert(m.experiments)
                .values(
                    name=name,
                    artifact_location=location or "",
                    lifecycle_stage=ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
                .returning(m.experiments.c.experiment_id)
            ).scalar_one()
            if location is None:
                conn.execute(
                    sa.update(m.experiments)
                    .where(m.experiments.c.experiment_id == experiment_id)
                    .values(artifact_location=f"{self.artifact_root}/{experiment_id}")
                )
            tag_rows = {checked_key(t.key, "tag"): str(t.value) for t in tags}
            if tag_rows:
                conn.execute(
                    sa.insert(m.experiment_tags),
                    [
                        {"experiment_id": experiment_id, "key": k, "value": v}
                        for k, v in tag_rows.items()
                    ],
                )
            return str(experiment_id)

        return self._db.write(create, retry_integrity=True)

    def _check_name_free(self, conn: sa.Connection, name: str) -> None:
        row = conn.execute(
            sa.select(m.experiments.c.lifecycle_stage).where(m.experiments.c.name == name)
        ).first()
        if row is not None:
            hint = " (it is deleted; restore it or pick another name)" if row[0] == DELETED else ""
            raise AlreadyExistsError(f"Experiment {name!r} already exists{hint}")

    def _experiments(
        self, conn: sa.Connection, where: sa.ColumnElement[bool] | None
    ) -> list[Experiment]:
        stmt = sa.select(m.experiments)
        if where is not None:
            stmt = stmt.where(where)
        return self._experiments_from_rows(conn, conn.execute(stmt).all())

    def _experiments_from_rows(
        self, conn: sa.Connection, rows: Sequence[sa.Row[Any]]
    ) -> list[Experiment]:
        tags: dict[int, dict[str, str]] = {row.experiment_id: {} for row in rows}
        for chunk in chunks(list(tags)):
            for t in conn.execute(
                sa.select(m.experiment_tags).where(m.experiment_tags.c.experiment_id.in_(chunk))
            ):
                tags[t.experiment_id][t.key] = t.value
        return [
            Experiment(
                experiment_id=str(row.experiment_id),
                name=row.name,
                artifact_location=row.artifact_location,
                lifecycle_stage=row.lifecycle_stage,
                tags=tags[row.experiment_id],
                creation_time=row.creation_time,
                last_update_time=row.last_update_time,
            )
            for row in rows
        ]

    def _experiment_row(self, conn: sa.Connection, experiment_id: str) -> sa.Row[Any]:
        key = experiment_key(experiment_id)
        row = None
        if key is not None:
            row = conn.execute(self._experiment_stmt, {"experiment_id": key}).first()
        if row is None:
            raise NotFoundError(f"No experiment with id {experiment_id!r}")
        return row

    def get_experiment(self, experiment_id: str) -> Experiment:
        def get(conn: sa.Connection) -> Experiment:
            row = self._experiment_row(conn, experiment_id)
            return self._experiments_from_rows(conn, [row])[0]

        return self._db.read(get)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        def get(conn: sa.Connection) -> Experiment | None:
            found = self._experiments(conn, m.experiments.c.name == name)
            return found[0] if found else None

        return self._db.read(get)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        check_max_results(max_results)
        offset = decode_page_token(page_token)
        exp = m.experiments
        from_: Any = exp
        conditions = []
        stage = lifecycle_condition(exp.c.lifecycle_stage, view_type)
        if stage is not None:
            conditions.append(stage)
        joined = 0
        subqueries: list[sa.ColumnElement[bool]] = []
        tags = m.experiment_tags
        # As for runs (_search_sql.run_search_query): a few tag clauses are joins, more are
        # IN subqueries in one opaque term, so any number of clauses works.
        for i, comp in enumerate(parse_filter(filter_string, "experiment")):
            if comp.kind == "attribute":
                column: Any = exp.c[comp.key]
                value: Any = comp.value
                if comp.key == "experiment_id":
                    value = self._experiment_ids_value(comp.value)
                conditions.append(compare(column, comp.op, value, self.dialect))
            elif joined < JOINED_CLAUSES:
                joined += 1
                alias = tags.alias(f"t{i}")
                from_ = from_.join(
                    alias,
                    sa.and_(
                        alias.c.experiment_id == exp.c.experiment_id,
                        alias.c.key == comp.key,
                        compare(alias.c.value, comp.op, comp.value, self.dialect),
                    ),
                )
            else:
                matching = sa.select(tags.c.experiment_id).where(
                    tags.c.key == comp.key,
                    compare(tags.c.value, comp.op, comp.value, self.dialect),
                )
                subqueries.append(exp.c.experiment_id.in_(matching))
        if subqueries:
            conditions.append(opaque(subqueries))
        order: list[Any] = []
        for i, key in enumerate(parse_order_by(order_by, "experiment")):
            if key.kind == "attribute":
                column = exp.c[key.key]
            else:
                alias = m.experiment_tags.alias(f"o{i}")
                from_ = from_.outerjoin(
                    alias,
                    sa.and_(alias.c.experiment_id == exp.c.experiment_id, alias.c.key == key.key),
                )
                column = alias.c.value
            order.append((column.asc() if key.ascending else column.desc()).nulls_last())
        # MLflow's default: newest first.
        order += [exp.c.creation_time.desc(), exp.c.experiment_id.desc()]
        stmt = (
            sa.select(exp)
            .select_from(from_)
            .where(*all_of(conditions))
            .order_by(*order)
            .offset(offset)
            .limit(max_results + 1)
        )

        def search(conn: sa.Connection) -> PagedList[Experiment]:
            rows = conn.execute(stmt).all()
            token = encode_page_token(offset + max_results) if len(rows) > max_results else None
            return PagedList(self._experiments_from_rows(conn, rows[:max_results]), token)

        return self._db.read(search)

    @staticmethod
    def _experiment_ids_value(value: Any) -> Any:
        values = value if isinstance(value, tuple) else (value,)
        keys = tuple(experiment_key(v) for v in values)
        if any(k is None for k in keys):
            raise InvalidFilterError(f"Invalid experiment id in the filter: {value!r}")
        return keys if isinstance(value, tuple) else keys[0]

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        def update(conn: sa.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
            now = now_ms()
            if stage == DELETED:
                if str(row.experiment_id) == DEFAULT_EXPERIMENT_ID:
                    raise InvalidInputError("The default experiment cannot be deleted")
                if row.lifecycle_stage == DELETED:
                    return
                # A stamp no run deleted on its own before carries (even within the same ms).
                latest = conn.execute(
                    sa.select(sa.func.max(m.runs.c.deleted_time)).where(
                        m.runs.c.experiment_id == row.experiment_id
                    )
                ).scalar()
                now = max(now, (latest or 0) + 1)
                # Its active runs go with it, stamped with the same time so that a restore
                # brings back exactly these (and not runs deleted on their own before).
                conn.execute(
                    sa.update(m.runs)
                    .where(
                        m.runs.c.experiment_id == row.experiment_id,
                        m.runs.c.lifecycle_stage == ACTIVE,
                    )
                    .values(lifecycle_stage=DELETED, deleted_time=now)
                )
                values = {"lifecycle_stage": DELETED, "deleted_time": now}
            else:
                if row.lifecycle_stage == ACTIVE:
                    return
                if row.deleted_time is not None:
                    conn.execute(
                        sa.update(m.runs)
                        .where(
                            m.runs.c.experiment_id == row.experiment_id,
                            m.runs.c.deleted_time == row.deleted_time,
                        )
                        .values(lifecycle_stage=ACTIVE, deleted_time=None)
                    )
                values = {"lifecycle_stage": ACTIVE, "deleted_time": None}
            conn.execute(
                sa.update(m.experiments)
                .where(m.experiments.c.experiment_id == row.experiment_id)
                .values(last_update_time=now, **values)
            )

        self._db.write(update)

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        if not isinstance(new_name, str) or not new_name.strip():
            raise InvalidInputError(f"Experiment name must be a non-empty string, got {new_name!r}")
        check_length(new_name, 256, "Experiment name")

        def rename(conn: sa.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
            if row.lifecycle_stage != ACTIVE:
                raise InvalidStateError(f"Cannot rename deleted experiment {experiment_id!r}")
            if row.name == new_name:
                return
            self._check_name_free(conn, new_name)
            conn.execute(
                sa.update(m.experiments)
                .where(m.experiments.c.experiment_id == row.experiment_id)
                .values(name=new_name, last_update_time=now_ms())
            )

        self._db.write(rename, retry_integrity=True)

    def set_experiment_tag(self, experiment_id: str, tag: RunTag) -> None:
        def set_tag(conn: sa.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
            if row.lifecycle_stage != ACTIVE:
                raise InvalidStateError(f"Cannot set a tag on deleted experiment {experiment_id!r}")
            ins = self._insert(m.experiment_tags).values(
                experiment_id=row.experiment_id,
                key=checked_key(tag.key, "tag"),
                value=str(tag.value),
            )
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[m.experiment_tags.c.experiment_id, m.experiment_tags.c.key],
                    set_={"value": ins.excluded.value},
                )
            )

        self._db.write(set_tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        def delete_tag(conn: sa.Connection) -> None:
            row = self._experiment_row(conn, experiment_id)
            if row.lifecycle_stage != ACTIVE:
                raise InvalidStateError(
                    f"Cannot delete a tag of deleted experiment {experiment_id!r}"
                )
            tags = m.experiment_tags
            deleted = conn.execute(
                sa.delete(tags).where(tags.c.experiment_id == row.experiment_id, tags.c.key == key)
            )
            if deleted.rowcount == 0:
                raise NotFoundError(f"No tag {key!r} on experiment {experiment_id!r}")

        self._db.write(delete_tag)
