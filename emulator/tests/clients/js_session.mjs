// Cross-client session through the JavaScript SDK v3 (@aws-sdk/client-secrets-manager) against SM_ENDPOINT.
// The JS SDK reads X-Amzn-ErrorType first and parses epoch-second timestamps strictly; any mismatch throws.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import * as sm from "@aws-sdk/client-secrets-manager";

const region = process.env.AWS_REGION ?? "us-east-1";
const builtin = `arn:aws:lambda:${region}:123456789012:function:emulator-builtin-rotation`;
const client = new sm.SecretsManagerClient({
  endpoint: process.env.SM_ENDPOINT,
  region,
  maxAttempts: 1,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
});
const send = (Cmd, input) => client.send(new Cmd(input));
const name = `js/${randomUUID().slice(0, 8)}`;

const created = await send(sm.CreateSecretCommand, {
  Name: name, SecretString: JSON.stringify({ username: "js", password: "a" }), Tags: [{ Key: "team", Value: "core" }],
});
assert.match(created.ARN, new RegExp(`:secret:${name}-[A-Za-z0-9]{6}$`));
let got = await send(sm.GetSecretValueCommand, { SecretId: name });
assert.equal(JSON.parse(got.SecretString).password, "a");
assert.ok(got.CreatedDate instanceof Date && !Number.isNaN(got.CreatedDate.getTime()), "CreatedDate is a Date");
const bin = new Uint8Array([0, 1, 2, 250, 255]);
const put = await send(sm.PutSecretValueCommand, { SecretId: created.ARN, SecretBinary: bin });
assert.deepEqual(put.VersionStages, ["AWSCURRENT"]);
got = await send(sm.GetSecretValueCommand, { SecretId: name });
assert.deepEqual(Array.from(got.SecretBinary), Array.from(bin));
let desc = await send(sm.DescribeSecretCommand, { SecretId: name });
assert.deepEqual(desc.VersionIdsToStages[created.VersionId], ["AWSPREVIOUS"]);
assert.ok(desc.LastChangedDate instanceof Date);
await send(sm.TagResourceCommand, { SecretId: name, Tags: [{ Key: "env", Value: "dev" }] });
await send(sm.UntagResourceCommand, { SecretId: name, TagKeys: ["team"] });
desc = await send(sm.DescribeSecretCommand, { SecretId: name });
assert.deepEqual(desc.Tags, [{ Key: "env", Value: "dev" }]);
const listed = await send(sm.ListSecretsCommand, { Filters: [{ Key: "name", Values: [name] }] });
assert.deepEqual(listed.SecretList.map((s) => s.Name), [name]);

await send(sm.PutSecretValueCommand, { SecretId: name, SecretString: JSON.stringify({ username: "js", password: "b" }) });
const rot = await send(sm.RotateSecretCommand, {
  SecretId: name, RotationLambdaARN: builtin, RotationRules: { AutomaticallyAfterDays: 5 },
});
const rotated = JSON.parse((await send(sm.GetSecretValueCommand, { SecretId: name })).SecretString);
assert.equal(rotated.username, "js");
assert.notEqual(rotated.password, "b");
desc = await send(sm.DescribeSecretCommand, { SecretId: name });
assert.equal(desc.RotationEnabled, true);
assert.deepEqual(desc.VersionIdsToStages[rot.VersionId], ["AWSCURRENT"]);
assert.ok(desc.NextRotationDate instanceof Date && desc.NextRotationDate > desc.LastRotatedDate);

const del = await send(sm.DeleteSecretCommand, { SecretId: name, RecoveryWindowInDays: 7 });
assert.ok(del.DeletionDate instanceof Date);
await assert.rejects(send(sm.GetSecretValueCommand, { SecretId: name }), (e) => {
  assert.equal(e.name, "InvalidRequestException");
  assert.match(e.message, /marked for deletion/);
  return true;
});
await send(sm.RestoreSecretCommand, { SecretId: name });
assert.equal((await send(sm.DescribeSecretCommand, { SecretId: name })).DeletedDate, undefined);
await send(sm.DeleteSecretCommand, { SecretId: name, ForceDeleteWithoutRecovery: true });
await assert.rejects(send(sm.GetSecretValueCommand, { SecretId: name }), (e) => {
  assert.ok(e instanceof sm.ResourceNotFoundException, `expected ResourceNotFoundException, got ${e.name}`);
  assert.equal(e.message, "Secrets Manager can't find the specified secret.");
  assert.equal(e.$metadata.httpStatusCode, 400);
  return true;
});
console.log("js sdk v3 session: ok");
