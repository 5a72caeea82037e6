//! Reliability suite, hostile input on the broker side (see RELIABILITY.md): seeded random-input
//! loops over `tests/fixtures/corpus/` for the Grafana blob parser (codec, envelope and algorithm
//! markers, decryption, and corrupted rows read end to end through the legacy_sql backend), the
//! AWS secret-name mapping (round trip, canonical parse, AWS name rules), and the plugin's gRPC
//! surface (hostile field contents answer gRPC OK with an in-band error or round-trip exactly;
//! undecodable protobuf never takes the plugin down). `RELIABILITY_FUZZ_ITERS` scales the loops.
#![allow(clippy::unwrap_used)]

#[path = "reliability_support/fuzz.rs"]
mod fuzz;
#[path = "plugin_support/mod.rs"]
mod plugin_support;

use base64::Engine as _;
use plugin_support::{grafana_command, launch};
use secrets_broker::backends::aws::naming::{self, Naming, Parsed};
use secrets_broker::backends::legacy_sql::{codec, crypto, LegacySqlConfig, LegacySqlStore};
use secrets_broker::backends::SecretStore;
use secrets_broker::domain::SecretKey;
use secrets_broker::server::proto::secretsmanager as pb;

const GRAFANA_DEFAULT_SECRET_KEY: &str = "SW2YcwTIb9zpOOhoPsMm";

#[test]
fn grafana_blob_parser_survives_hostile_blobs() {
    let seeds = fuzz::corpus("grafana_blob");
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let iters = fuzz::iterations(1500) * 10;
    let (mut parsed, mut rejected, mut decrypted) = (0usize, 0usize, 0usize);
    for i in 0..iters {
        let input = fuzz::next_input(&mut rng, &seeds);
        let text = String::from_utf8_lossy(&input);
        let row = codec::RowName::secret(1, 1, "ns", "datasource");
        let expect = if i % 2 == 0 {
            codec::Expect::Text
        } else {
            codec::Expect::JsonObject
        };
        match codec::parse(row, Some(&text), &crypto::B64_PADDED, expect) {
            Ok(p) => {
                parsed += 1;
                // Decryption costs a PBKDF2 (~10 ms here): try one in 64.
                if i % 64 == 0 {
                    match codec::open(&p, b"1234") {
                        Ok(_) => decrypted += 1,
                        Err(e) => assert!(!e.to_string().is_empty()),
                    }
                }
            }
            Err(e) => {
                rejected += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        // The raw-byte layers directly too (no base64 in front).
        let _ = crypto::split_envelope(&input);
        let _ = crypto::split_algorithm(&input);
    }
    eprintln!("FIGURES grafana_blob_fuzz executions={iters} parsed={parsed} rejected={rejected} decrypt_attempts={} decrypted={decrypted}", iters.div_ceil(64));
    assert!(
        parsed > 0 && rejected > 0,
        "the mutator is not reaching both outcomes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_grafana_rows_give_clear_errors_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("grafana.db");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/grafana/grafana-11.1.0-envelope.db"),
        &db,
    )
    .unwrap();
    let url = format!("sqlite://{}", db.display());
    let store = LegacySqlStore::open(&LegacySqlConfig::new(
        url.clone(),
        GRAFANA_DEFAULT_SECRET_KEY,
    ))
    .await
    .unwrap();
    let good = SecretKey::new(1, "grafana-appwithserviceaccount-app", "extsvc-token").unwrap();
    let victim = SecretKey::new(1, "gdev-testdata", "datasource").unwrap();
    let good_value = store
        .get(&good)
        .await
        .unwrap()
        .expect("fixture row 1")
        .expose()
        .to_string();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let seeds = fuzz::corpus("grafana_blob");
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let iters = fuzz::iterations(1500) / 50;
    let (mut errors, mut oks) = (0usize, 0usize);
    for _ in 0..iters {
        let blob = String::from_utf8_lossy(&fuzz::next_input(&mut rng, &seeds)).to_string();
        sqlx::query("UPDATE secrets SET value = ? WHERE id = 2")
            .bind(&blob)
            .execute(&pool)
            .await
            .unwrap();
        match store.get(&victim).await {
            Ok(_) => oks += 1,
            Err(e) => {
                errors += 1;
                let m = e.to_string();
                assert!(
                    !m.is_empty() && !m.contains(GRAFANA_DEFAULT_SECRET_KEY),
                    "{m}"
                );
            }
        }
        // The healthy row stays readable, and get_all fails cleanly or succeeds.
        assert_eq!(
            store.get(&good).await.unwrap().unwrap().expose(),
            good_value
        );
        if errors % 5 == 0 {
            let _ = store.get_all().await;
        }
    }
    eprintln!("FIGURES grafana_rows_fuzz executions={iters} clear_errors={errors} decoded={oks}");
    assert!(errors > 0);
}

fn key_from_seed(rng: &mut fuzz::Rng, bytes: &[u8]) -> Option<SecretKey> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.splitn(3, '\n');
    let org = lines
        .next()?
        .trim()
        .parse::<i64>()
        .unwrap_or_else(|_| rng.next_u64() as i64);
    let kind = lines.next()?.to_string();
    let ns = lines.next()?.to_string();
    SecretKey::new(org, ns, kind).ok()
}

#[test]
fn secret_name_mapping_round_trips_and_rejects_foreign_names() {
    let seeds = fuzz::corpus("names");
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let iters = fuzz::iterations(1500) * 20;
    let prefixes = ["grafana/", "", "team-a/grafana/", "x"];
    let (mut keys, mut digests, mut foreign, mut parsed_foreign) = (0usize, 0usize, 0usize, 0usize);
    for _ in 0..iters {
        let input = fuzz::next_input(&mut rng, &seeds);
        let prefix = *rng.pick(&prefixes);
        if naming::check_prefix(prefix).is_err() {
            continue;
        }
        let n = Naming::new(prefix);
        if let Some(key) = key_from_seed(&mut rng, &input) {
            keys += 1;
            let name = n.name(&key);
            assert!(
                naming::is_valid_aws_name(&name),
                "invalid AWS name {name:?} for {key:?}"
            );
            match n.parse(&name) {
                Some(Parsed::Key(k)) => assert_eq!(k, key, "{name}"),
                Some(Parsed::Digest { org_id, .. }) => {
                    digests += 1;
                    assert_eq!(org_id, key.org_id());
                    let tags: std::collections::HashMap<_, _> = n.tags(&key).into_iter().collect();
                    assert_eq!(n.key_of(&name, &tags), Some(key.clone()), "{name}");
                }
                None => panic!("our own name {name:?} does not parse"),
            }
            // Two different keys never share a name (checked against a neighbour).
            if let Ok(other) =
                SecretKey::new(key.org_id().wrapping_add(1), key.namespace(), key.kind())
            {
                assert_ne!(n.name(&other), name);
            }
        }
        // Arbitrary text: parse never panics; whatever parses is the canonical name of its key.
        let text = String::from_utf8_lossy(&input).replace('\n', "/");
        let candidate = format!("{prefix}{text}");
        foreign += 1;
        if let Some(Parsed::Key(k)) = n.parse(&candidate) {
            parsed_foreign += 1;
            assert_eq!(n.name(&k), candidate, "non-canonical name accepted");
        }
    }
    eprintln!("FIGURES name_mapping_fuzz executions={iters} keys_round_tripped={keys} digest_names={digests} foreign_names={foreign} foreign_parsed_canonical={parsed_foreign}");
    assert!(keys > 0);
}

/// A codec that sends and receives raw bytes, to put undecodable protobuf on the wire.
#[derive(Debug, Default, Clone)]
struct RawCodec;
#[derive(Debug, Default, Clone)]
struct RawCoder;

impl tonic::codec::Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes_put::PutSlice as _;
        dst.put_all(&item);
        Ok(())
    }
}

mod bytes_put {
    /// Writes a slice into a `BufMut` (tonic's buffers implement it).
    pub trait PutSlice {
        fn put_all(&mut self, b: &[u8]);
    }
    impl<T: prost::bytes::BufMut> PutSlice for T {
        fn put_all(&mut self, b: &[u8]) {
            self.put_slice(b);
        }
    }
}

impl tonic::codec::Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf as _;
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

fn hostile_string(rng: &mut fuzz::Rng) -> String {
    match rng.below(8) {
        0 => String::new(),
        1 => " ".repeat(rng.below(4) + 1),
        2 => "é/🔑 ns with spaces/..".into(),
        3 => "\u{0}\u{1}\u{7f}\r\n\t".into(),
        4 => "x".repeat(rng.below(3000)),
        5 => "../../etc/passwd".into(),
        6 => format!("ds-{}", rng.below(5)),
        _ => String::from_utf8_lossy(
            &(0..rng.below(40))
                .map(|_| rng.next_u64() as u8)
                .collect::<Vec<_>>(),
        )
        .into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_grpc_inputs_get_in_band_errors() {
    use prost::Message as _;
    let data = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let plugin = launch(grafana_command(data.path(), sockets.path(), &[]));
    let mut c = plugin.client().await;
    let mut rng = fuzz::Rng::new(fuzz::seed());
    let iters = fuzz::iterations(1500) / 3;
    let (mut in_band, mut round_trips) = (0usize, 0usize);
    // 1. Well-formed protobuf, hostile contents: always gRPC OK; an in-band error or an exact
    //    round trip.
    for _ in 0..iters {
        let key = (!rng.chance(0.1)).then(|| pb::Key {
            org_id: *rng.pick(&[0, 1, -1, i64::MIN, i64::MAX, 7]),
            namespace: hostile_string(&mut rng),
            r#type: if rng.chance(0.5) {
                "datasource".into()
            } else {
                hostile_string(&mut rng)
            },
        });
        let value = if rng.chance(0.05) {
            "v".repeat(70_000 + rng.below(1000))
        } else {
            hostile_string(&mut rng)
        };
        match rng.below(4) {
            0 | 1 => {
                let r = c
                    .set_secret(pb::SetSecretRequest {
                        key_descriptor: key.clone(),
                        value: value.clone(),
                    })
                    .await
                    .expect("SetSecret answers gRPC OK")
                    .into_inner();
                if r.user_friendly_error.is_empty() {
                    let g = c
                        .get_secret(pb::GetSecretRequest {
                            key_descriptor: key.clone(),
                        })
                        .await
                        .expect("GetSecret answers gRPC OK")
                        .into_inner();
                    assert_eq!(g.user_friendly_error, "");
                    assert!(
                        g.exists && g.decrypted_value == value,
                        "accepted write does not round-trip: {key:?}"
                    );
                    round_trips += 1;
                } else {
                    in_band += 1;
                }
            }
            2 => {
                let r = c
                    .rename_secret(pb::RenameSecretRequest {
                        key_descriptor: key,
                        new_namespace: hostile_string(&mut rng),
                    })
                    .await
                    .expect("RenameSecret answers gRPC OK")
                    .into_inner();
                in_band += usize::from(!r.user_friendly_error.is_empty());
            }
            _ => {
                let r = c
                    .list_secrets(pb::ListSecretsRequest {
                        key_descriptor: key,
                        all_organizations: rng.chance(0.3),
                    })
                    .await
                    .expect("ListSecrets answers gRPC OK")
                    .into_inner();
                in_band += usize::from(!r.user_friendly_error.is_empty());
            }
        }
    }
    // 2. Undecodable protobuf (mutated valid messages, invalid UTF-8): the server rejects them at
    //    the protocol layer and keeps serving.
    let seeds: Vec<Vec<u8>> = vec![
        pb::SetSecretRequest {
            key_descriptor: plugin_support::key(1, "ds", "datasource"),
            value: "{\"a\":1}".into(),
        }
        .encode_to_vec(),
        pb::GetSecretRequest {
            key_descriptor: plugin_support::key(2, "é/🔑", "datasource"),
        }
        .encode_to_vec(),
        pb::RenameSecretRequest {
            key_descriptor: plugin_support::key(1, "a", "b"),
            new_namespace: "c".into(),
        }
        .encode_to_vec(),
    ];
    let paths = [
        "SetSecret",
        "GetSecret",
        "RenameSecret",
        "DeleteSecret",
        "ListSecrets",
    ];
    let mut grpc = tonic::client::Grpc::new(plugin.channel().await);
    let (mut raw_ok, mut raw_rejected) = (0usize, 0usize);
    for _ in 0..iters {
        let body = fuzz::next_input(&mut rng, &seeds);
        let path: tonic::codegen::http::uri::PathAndQuery =
            format!("/secretsmanagerplugin.SecretsManager/{}", rng.pick(&paths))
                .parse()
                .unwrap();
        grpc.ready().await.expect("the plugin keeps serving");
        match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
            Ok(_) => raw_ok += 1,
            Err(s) => {
                raw_rejected += 1;
                assert!(
                    matches!(
                        s.code(),
                        tonic::Code::Internal | tonic::Code::InvalidArgument
                    ),
                    "unexpected status {s:?}"
                );
            }
        }
    }
    // Still healthy.
    let r = c
        .set_secret(pb::SetSecretRequest {
            key_descriptor: plugin_support::key(1, "after", "datasource"),
            value: "ok".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.user_friendly_error, "");
    let mut plugin = plugin;
    assert!(
        plugin.child.try_wait().unwrap().is_none(),
        "the plugin died"
    );
    eprintln!(
        "FIGURES grpc_fuzz structured_executions={iters} in_band_errors={in_band} exact_round_trips={round_trips} raw_executions={iters} raw_answered={raw_ok} raw_rejected_by_protocol={raw_rejected}"
    );
    assert!(in_band > 0 && round_trips > 0);
    let _ = base64::engine::general_purpose::STANDARD.encode(b"");
}
