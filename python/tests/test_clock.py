"""The emulator's clock: a deleted secret stays restorable within its recovery window and is
purged once the clock passes it."""

import datetime as dt

import pytest


def test_a_deleted_secret_is_purged_after_its_recovery_window(secretsmanager_emulator):
    emu = secretsmanager_emulator
    client = emu.client
    client.create_secret(Name="old", SecretString="v")
    deleted = client.delete_secret(SecretId="old", RecoveryWindowInDays=7)
    assert deleted["DeletionDate"] - emu.clock.now() > dt.timedelta(days=6, hours=23)
    # within the window: still there (deleted), and restorable
    emu.clock.advance(days=6)
    assert "DeletedDate" in client.describe_secret(SecretId="old")
    with pytest.raises(client.exceptions.InvalidRequestException):
        client.get_secret_value(SecretId="old")
    client.restore_secret(SecretId="old")
    assert client.get_secret_value(SecretId="old")["SecretString"] == "v"
    # deleted again, and the clock moved past the window: gone for good
    client.delete_secret(SecretId="old", RecoveryWindowInDays=7)
    emu.clock.advance(days=8)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_secret(SecretId="old")
    assert client.list_secrets(IncludePlannedDeletion=True)["SecretList"] == []
    # the name is free again
    client.create_secret(Name="old", SecretString="new")


def test_advance_moves_the_emulator_clock_only(secretsmanager_emulator):
    emu = secretsmanager_emulator
    before = emu.clock.now()
    after = emu.clock.advance(days=8, hours=1)
    assert (
        dt.timedelta(days=8, hours=1) <= after - before < dt.timedelta(days=8, hours=1, minutes=1)
    )
    assert abs(emu.clock.offset - dt.timedelta(days=8, hours=1)) < dt.timedelta(seconds=1)
    created = emu.client.create_secret(Name="future", SecretString="v")
    assert created["ARN"]
    assert emu.client.describe_secret(SecretId="future")["CreatedDate"] >= after
    with pytest.raises(ValueError, match="only moves forward"):
        emu.clock.advance(days=-1)
