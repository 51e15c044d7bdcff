"""Repositories: one per aggregate, all scoped to the unit of work's tenant (except the system one)."""

from viral.db.repositories.generations import GenerationRepository
from viral.db.repositories.learning import (
    AdjustmentRepository,
    CritiqueRepository,
    FeedbackRepository,
    InsightRepository,
)
from viral.db.repositories.tenants import SystemRepository, TenantRecord, TenantRepository

__all__ = [
    "AdjustmentRepository",
    "CritiqueRepository",
    "FeedbackRepository",
    "GenerationRepository",
    "InsightRepository",
    "SystemRepository",
    "TenantRecord",
    "TenantRepository",
]
