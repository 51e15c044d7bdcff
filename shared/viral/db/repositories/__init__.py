"""Repositories: one per aggregate, all scoped to the unit of work's tenant (except the system one)."""

from viral.db.repositories.generations import GenerationRepository
from viral.db.repositories.identity import ApiKeyRecord, ApiKeyRepository, KeyOwner, Member, MembershipRepository
from viral.db.repositories.learning import (
    AdjustmentRepository,
    CritiqueRepository,
    FeedbackRepository,
    InsightRepository,
)
from viral.db.repositories.tenants import SystemRepository, TenantRecord, TenantRepository

__all__ = [
    "AdjustmentRepository",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "CritiqueRepository",
    "FeedbackRepository",
    "GenerationRepository",
    "InsightRepository",
    "KeyOwner",
    "Member",
    "MembershipRepository",
    "SystemRepository",
    "TenantRecord",
    "TenantRepository",
]
