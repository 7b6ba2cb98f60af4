"""Reveals join the one audit log (audit.AuditEntry, action token.reveal); history is copied
over with its original times before the old table goes."""

from django.db import migrations

# Skips rows already copied, so migrating back and forth never doubles an entry (entries
# cannot be deleted on the way back: the log is append-only).
COPY_FORWARD = """
INSERT INTO audit_auditentry
    (actor_id, action, target_type, target_id, summary, ip, user_agent, created_at)
SELECT r.actor_id, 'token.reveal', 'token', CAST(r.token_id AS VARCHAR(64)), '', r.ip,
       r.user_agent, r.revealed_at
FROM tokens_vault_revealaudit r
WHERE NOT EXISTS (
    SELECT 1 FROM audit_auditentry a
    WHERE a.action = 'token.reveal' AND a.target_id = CAST(r.token_id AS VARCHAR(64))
      AND a.actor_id = r.actor_id AND a.created_at = r.revealed_at
)
ORDER BY r.id
"""
COPY_BACK = """
INSERT INTO tokens_vault_revealaudit (token_id, actor_id, revealed_at, ip, user_agent)
SELECT CAST(target_id AS INTEGER), actor_id, created_at, ip, user_agent
FROM audit_auditentry WHERE action = 'token.reveal' ORDER BY id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tokens_vault", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="token",
            options={"permissions": [("revoke_token", "Can revoke tokens")]},
        ),
        migrations.RunSQL(COPY_FORWARD, reverse_sql=COPY_BACK),
        migrations.DeleteModel(name="RevealAudit"),
    ]
