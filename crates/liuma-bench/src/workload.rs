//! The operations, the workers that run them, and the phases of a run:
//! create bucket → prepare objects (untimed) → warm-up (discarded) → measure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::data::{DataMode, ObjectData, mix};
use crate::s3::{ReqBody, S3Client, Target, xml_text};
use crate::size::{OpKind, SizeDist};
use crate::stats::{Recorded, Report, RunInfo};

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// PutObject of new objects.
    Put,
    /// GetObject of the prepared objects (random order).
    Get,
    /// get / put / delete drawn by the --mix weights.
    Mixed,
    /// ListObjectsV2 of the whole prefix (all pages) per operation.
    List,
    /// DeleteObject of the prepared objects, one each.
    Delete,
    /// CreateMultipartUpload + UploadPart × n + CompleteMultipartUpload.
    Multipart,
}

/// A resolved, checked benchmark (see `BenchArgs::plan`).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where and as whom.
    pub target: Target,
    /// The endpoint as given, for the report.
    pub endpoint: String,
    /// What to run.
    pub workload: Workload,
    /// Object sizes.
    pub size: SizeDist,
    /// Multipart part size in bytes.
    pub part_size: u64,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Measure for this long (None: until `ops`).
    pub duration: Option<Duration>,
    /// Measure this many operations (None: until `duration`).
    pub ops: Option<u64>,
    /// Unmeasured warm-up time.
    pub warmup: Option<Duration>,
    /// Objects prepared before measuring.
    pub objects: u64,
    /// Weights of the mixed workload.
    pub mix: Vec<(OpKind, u32)>,
    /// Object contents.
    pub data: DataMode,
    /// Verify GET bytes.
    pub verify: bool,
    /// Seed of data and sizes.
    pub seed: u64,
    /// Key prefix.
    pub prefix: String,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What a successful operation moved.
#[derive(Debug, Default)]
struct Done {
    bytes: u64,
    verified: u64,
    keys: u64,
}

type OpResult = Result<Done, String>;

struct Ctx {
    client: S3Client,
    plan: Plan,
    /// Index of the next new object (puts, multipart).
    next_obj: AtomicU64,
    /// Objects written by mixed puts, which mixed deletes may remove.
    deletable: Mutex<Vec<u64>>,
}

impl Ctx {
    fn key(&self, obj: u64) -> String {
        format!("{}{obj:010}", self.plan.prefix)
    }

    fn size_of(&self, obj: u64) -> u64 {
        self.plan.size.sample(mix(self.plan.seed ^ mix(!obj)))
    }

    fn data_of(&self, obj: u64) -> ObjectData {
        ObjectData::new(self.plan.seed, obj, self.plan.data)
    }
}

/// Run the plan; failures of single operations are counted in the report.
pub async fn execute(plan: Plan) -> Report {
    let client = S3Client::new(plan.target.clone(), plan.concurrency);
    let ctx = Arc::new(Ctx {
        client,
        next_obj: AtomicU64::new(plan.objects),
        deletable: Mutex::new(Vec::new()),
        plan,
    });
    create_bucket(&ctx).await;
    let p = &ctx.plan;
    if p.objects > 0 {
        let rec = phase(&ctx, Phase::Prepare, Some(p.objects), None, "prepare")
            .await
            .0;
        let failed: u64 = rec.values().map(|s| s.errors).sum();
        if failed > 0 {
            let first = rec.values().find_map(|s| s.first_error.clone());
            eprintln!(
                "liuma bench: {failed} of {} objects could not be prepared (first: {})",
                p.objects,
                first.unwrap_or_default()
            );
        }
    }
    if let Some(w) = p.warmup {
        phase(&ctx, Phase::Measure, None, Some(w), "warm-up").await;
    }
    let ops = match p.workload {
        Workload::Delete => Some(p.ops.unwrap_or(p.objects).min(p.objects)),
        _ => p.ops,
    };
    let (recorded, elapsed) = phase(&ctx, Phase::Measure, ops, p.duration, "measure").await;
    let info = RunInfo {
        workload: p.workload.to_string(),
        endpoint: p.endpoint.clone(),
        bucket: p.target.bucket.clone(),
        prefix: p.prefix.clone(),
        seed: p.seed,
        size: p.size.to_string(),
        data: format!("{:?}", p.data).to_lowercase(),
        concurrency: p.concurrency,
    };
    Report::new(info, recorded, elapsed)
}

/// PUT the bucket; "already exists/owned" is fine, anything else is reported
/// and the run goes on (its operations will fail and be counted).
async fn create_bucket(ctx: &Ctx) {
    let res = ctx
        .client
        .send(Method::PUT, None, &[], ReqBody::Empty, 0)
        .await;
    match res {
        Ok(resp) if resp.status().is_success() || resp.status() == StatusCode::CONFLICT => {
            drain(resp).await;
        }
        Ok(resp) => eprintln!("liuma bench: creating the bucket: {}", failure(resp).await),
        Err(e) => eprintln!("liuma bench: creating the bucket: {e}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// PUT objects 0..objects.
    Prepare,
    /// The workload.
    Measure,
}

/// Run `concurrency` workers until `ops` operations were started or `time`
/// passed; returns what they recorded and the wall time.
async fn phase(
    ctx: &Arc<Ctx>,
    kind: Phase,
    ops: Option<u64>,
    time: Option<Duration>,
    label: &'static str,
) -> (Recorded, Duration) {
    let counter = Arc::new(AtomicU64::new(0));
    let moved = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = time.map(|t| start + t);
    let bar = ctx.plan.progress.then(|| progress_bar(label, ops, time));
    let ticker = bar.clone().map(|bar| {
        let (counter, moved) = (counter.clone(), moved.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let secs = start.elapsed().as_secs_f64();
                let n = counter.load(Ordering::Relaxed);
                match ops {
                    Some(_) => bar.set_position(n),
                    None => bar.set_position(start.elapsed().as_millis() as u64),
                }
                let mb = moved.load(Ordering::Relaxed) as f64 / 1e6 / secs.max(1e-3);
                bar.set_message(format!("{n} ops, {mb:.1} MB/s"));
            }
        })
    });
    let workers: Vec<_> = (0..ctx.plan.concurrency)
        .map(|_| {
            let (ctx, counter, moved) = (ctx.clone(), counter.clone(), moved.clone());
            tokio::spawn(async move {
                let mut rec = Recorded::new();
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if ops.is_some_and(|o| n >= o) {
                        break;
                    }
                    let t0 = Instant::now();
                    let (op, res) = one_op(&ctx, kind, n).await;
                    let s = rec.entry(op).or_default();
                    match res {
                        Ok(done) => {
                            s.latencies_us.push(t0.elapsed().as_micros() as u64);
                            s.bytes += done.bytes;
                            s.verified_bytes += done.verified;
                            s.keys_listed += done.keys;
                            moved.fetch_add(done.bytes, Ordering::Relaxed);
                        }
                        Err(e) => {
                            s.errors += 1;
                            s.first_error.get_or_insert(e);
                        }
                    }
                }
                rec
            })
        })
        .collect();
    let mut all = Recorded::new();
    for w in workers {
        let rec = w.await.expect("bench workers do not panic");
        for (k, s) in rec {
            all.entry(k).or_default().merge(s);
        }
    }
    let elapsed = start.elapsed();
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    (all, elapsed)
}

fn progress_bar(label: &str, ops: Option<u64>, time: Option<Duration>) -> ProgressBar {
    let len = match (ops, time) {
        (Some(n), _) => n,
        (None, Some(t)) => t.as_millis() as u64,
        (None, None) => 0,
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let unit = if ops.is_some() { "ops" } else { "ms" };
    let template =
        format!("{label:>8} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// The `n`-th operation of a phase: its kind and result.
async fn one_op(ctx: &Ctx, phase: Phase, n: u64) -> (OpKind, OpResult) {
    if phase == Phase::Prepare {
        return (OpKind::Put, put(ctx, n).await);
    }
    let p = &ctx.plan;
    let random_obj = |salt: u64| mix(p.seed ^ mix(n ^ salt)) % p.objects.max(1);
    match p.workload {
        Workload::Put => {
            let obj = ctx.next_obj.fetch_add(1, Ordering::Relaxed);
            (OpKind::Put, put(ctx, obj).await)
        }
        Workload::Get => (OpKind::Get, get(ctx, random_obj(1)).await),
        Workload::List => (OpKind::List, list(ctx).await),
        Workload::Delete => (OpKind::Delete, delete(ctx, n).await),
        Workload::Multipart => {
            let obj = ctx.next_obj.fetch_add(1, Ordering::Relaxed);
            (OpKind::Multipart, multipart(ctx, obj).await)
        }
        Workload::Mixed => mixed(ctx, n, random_obj(2)).await,
    }
}

async fn mixed(ctx: &Ctx, n: u64, get_obj: u64) -> (OpKind, OpResult) {
    let total: u64 = ctx.plan.mix.iter().map(|&(_, w)| u64::from(w)).sum();
    let mut r = mix(ctx.plan.seed ^ mix(n ^ 3)) % total;
    let mut kind = OpKind::Get;
    for &(k, w) in &ctx.plan.mix {
        if r < u64::from(w) {
            kind = k;
            break;
        }
        r -= u64::from(w);
    }
    match kind {
        OpKind::Put => {
            let obj = ctx.next_obj.fetch_add(1, Ordering::Relaxed);
            let res = put(ctx, obj).await;
            if res.is_ok() {
                ctx.deletable.lock().expect("never poisoned").push(obj);
            }
            (OpKind::Put, res)
        }
        OpKind::Delete => {
            // Only objects this phase wrote: the prepared ones stay readable.
            let victim = ctx.deletable.lock().expect("never poisoned").pop();
            match victim {
                Some(obj) => (OpKind::Delete, delete(ctx, obj).await),
                None => (OpKind::Get, get(ctx, get_obj).await),
            }
        }
        _ => (OpKind::Get, get(ctx, get_obj).await),
    }
}

async fn put(ctx: &Ctx, obj: u64) -> OpResult {
    let (key, size) = (ctx.key(obj), ctx.size_of(obj));
    let body = ReqBody::Data(ctx.data_of(obj).body(0, size));
    let resp = ctx
        .client
        .send(Method::PUT, Some(&key), &[], body, size)
        .await
        .map_err(|e| format!("PUT {key}: {e}"))?;
    expect_ok(resp, "PUT", &key).await?;
    Ok(Done {
        bytes: size,
        ..Done::default()
    })
}

async fn get(ctx: &Ctx, obj: u64) -> OpResult {
    let (key, size) = (ctx.key(obj), ctx.size_of(obj));
    let resp = ctx
        .client
        .send(Method::GET, Some(&key), &[], ReqBody::Empty, 0)
        .await
        .map_err(|e| format!("GET {key}: {e}"))?;
    if resp.status() != StatusCode::OK {
        return Err(format!("GET {key}: {}", failure(resp).await));
    }
    let mut verifier = ctx.plan.verify.then(|| ctx.data_of(obj).verifier());
    let mut body = resp.into_body();
    let mut got = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("GET {key}: reading the body: {e}"))?;
        if let Ok(data) = frame.into_data() {
            got += data.len() as u64;
            if let Some(v) = verifier.as_mut() {
                v.update(&data)
                    .map_err(|at| format!("GET {key}: wrong byte at offset {at}"))?;
            }
        }
    }
    if got != size {
        return Err(format!("GET {key}: {got} bytes, expected {size}"));
    }
    Ok(Done {
        bytes: got,
        verified: verifier.map_or(0, |v| v.checked()),
        keys: 0,
    })
}

async fn delete(ctx: &Ctx, obj: u64) -> OpResult {
    let key = ctx.key(obj);
    let resp = ctx
        .client
        .send(Method::DELETE, Some(&key), &[], ReqBody::Empty, 0)
        .await
        .map_err(|e| format!("DELETE {key}: {e}"))?;
    expect_ok(resp, "DELETE", &key).await?;
    Ok(Done::default())
}

/// List the whole prefix, 1000 keys a page. With the list workload, the
/// count must match the prepared objects.
async fn list(ctx: &Ctx) -> OpResult {
    let prefix = ctx.plan.prefix.as_str();
    let mut token: Option<String> = None;
    let mut keys = 0u64;
    loop {
        let mut q = vec![("list-type", "2"), ("prefix", prefix), ("max-keys", "1000")];
        if let Some(t) = token.as_deref() {
            q.push(("continuation-token", t));
        }
        let resp = ctx
            .client
            .send(Method::GET, None, &q, ReqBody::Empty, 0)
            .await
            .map_err(|e| format!("LIST {prefix}: {e}"))?;
        let xml = expect_ok(resp, "LIST", prefix).await?;
        let xml = String::from_utf8_lossy(&xml);
        keys += xml.matches("<Key>").count() as u64;
        token = match xml_text(&xml, "IsTruncated").as_deref() {
            Some("true") => Some(
                xml_text(&xml, "NextContinuationToken")
                    .ok_or_else(|| format!("LIST {prefix}: truncated without a token"))?,
            ),
            _ => None,
        };
        if token.is_none() {
            break;
        }
    }
    if ctx.plan.workload == Workload::List && keys != ctx.plan.objects {
        return Err(format!(
            "LIST {prefix}: {keys} keys, expected {}",
            ctx.plan.objects
        ));
    }
    Ok(Done {
        keys,
        ..Done::default()
    })
}

async fn multipart(ctx: &Ctx, obj: u64) -> OpResult {
    let (key, size) = (ctx.key(obj), ctx.size_of(obj));
    let c = &ctx.client;
    let resp = c
        .send(
            Method::POST,
            Some(&key),
            &[("uploads", "")],
            ReqBody::Empty,
            0,
        )
        .await
        .map_err(|e| format!("CREATE-MPU {key}: {e}"))?;
    let xml = expect_ok(resp, "CREATE-MPU", &key).await?;
    let upload_id = xml_text(&String::from_utf8_lossy(&xml), "UploadId")
        .ok_or_else(|| format!("CREATE-MPU {key}: no UploadId in the response"))?;
    let ps = ctx.plan.part_size;
    let parts = size.div_ceil(ps).max(1);
    let mut complete = String::from("<CompleteMultipartUpload>");
    for i in 0..parts {
        let (start, end) = (i * ps, ((i + 1) * ps).min(size));
        let number = (i + 1).to_string();
        let q = [
            ("partNumber", number.as_str()),
            ("uploadId", upload_id.as_str()),
        ];
        let body = ReqBody::Data(ctx.data_of(obj).body(start, end));
        let resp = c
            .send(Method::PUT, Some(&key), &q, body, end - start)
            .await
            .map_err(|e| format!("UPLOAD-PART {key}: {e}"))?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        expect_ok(resp, "UPLOAD-PART", &key).await?;
        let etag = etag.ok_or_else(|| format!("UPLOAD-PART {key}: no ETag"))?;
        complete.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    complete.push_str("</CompleteMultipartUpload>");
    let len = complete.len() as u64;
    let body = ReqBody::Bytes(Some(Bytes::from(complete)));
    let resp = c
        .send(
            Method::POST,
            Some(&key),
            &[("uploadId", upload_id.as_str())],
            body,
            len,
        )
        .await
        .map_err(|e| format!("COMPLETE-MPU {key}: {e}"))?;
    let xml = expect_ok(resp, "COMPLETE-MPU", &key).await?;
    // S3 may answer 200 and still report an error in the body.
    if String::from_utf8_lossy(&xml).contains("<Error>") {
        return Err(format!("COMPLETE-MPU {key}: error in the response body"));
    }
    Ok(Done {
        bytes: size,
        ..Done::default()
    })
}

/// The body of a 2xx response, or a description of the failure.
async fn expect_ok(resp: Response<Incoming>, op: &str, key: &str) -> Result<Bytes, String> {
    if !resp.status().is_success() {
        return Err(format!("{op} {key}: {}", failure(resp).await));
    }
    resp.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| format!("{op} {key}: reading the body: {e}"))
}

async fn drain(resp: Response<Incoming>) {
    let _ = resp.into_body().collect().await;
}

/// `HTTP 403 SignatureDoesNotMatch` from an error response.
async fn failure(resp: Response<Incoming>) -> String {
    let status = resp.status();
    let body = resp.into_body().collect().await.map(|b| b.to_bytes());
    let code = body
        .ok()
        .and_then(|b| xml_text(&String::from_utf8_lossy(&b), "Code"))
        .unwrap_or_default();
    format!("HTTP {} {code}", status.as_u16())
}
