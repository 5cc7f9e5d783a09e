//! S3 additional checksums at the front door (`x-amz-checksum-*`).
//!
//! - `plan`: which algorithm a PutObject/UploadPart body is hashed with
//!   and what the result must equal: one `x-amz-checksum-<alg>` header, or
//!   an aws-chunked trailer announced by `x-amz-trailer`, or the algorithm
//!   named by `x-amz-sdk-checksum-algorithm`, or the multipart upload's
//!   algorithm, else CRC64NVME (AWS adds it to every object uploaded
//!   without a checksum). Exactly one algorithm is computed per body.
//! - `upload_checksum`: the algorithm and type of CreateMultipartUpload.
//! - `complete_checksum`: what CompleteMultipartUpload sends.
//! - `set_checksum!`: fill the five `checksum_*` fields of any DTO.
//! - `get_object_attributes`: GetObjectAttributes (ETag, Checksum,
//!   ObjectParts paginated, ObjectSize, StorageClass), per version.

use liuma_engine::{
    Checksum as Sum, ChecksumAlgorithm as Alg, ChecksumType as Kind, CompleteChecksum,
    UploadChecksum,
};
use s3s::dto::{
    Checksum as DtoChecksum, ChecksumAlgorithm, ChecksumType, CompletedPart,
    GetObjectAttributesInput, GetObjectAttributesOutput, GetObjectAttributesParts, ObjectPart,
    StorageClass,
};
use s3s::{S3Error, S3Request, S3Response, S3Result, TrailingHeaders};

use crate::bucket::existing;
use crate::conv::{etag, ts, version_header};
use crate::error::s3_err;
use crate::service::LiumaS3;

/// Fill the `checksum_crc32` … `checksum_sha256` fields of a DTO from
/// `(algorithm, value)`.
macro_rules! set_checksum {
    ($out:expr, $alg:expr, $value:expr) => {{
        let v: Option<String> = Some($value);
        match $alg {
            liuma_engine::ChecksumAlgorithm::Crc32 => $out.checksum_crc32 = v,
            liuma_engine::ChecksumAlgorithm::Crc32c => $out.checksum_crc32c = v,
            liuma_engine::ChecksumAlgorithm::Crc64Nvme => $out.checksum_crc64nvme = v,
            liuma_engine::ChecksumAlgorithm::Sha1 => $out.checksum_sha1 = v,
            liuma_engine::ChecksumAlgorithm::Sha256 => $out.checksum_sha256 = v,
        }
    }};
}
pub(crate) use set_checksum;

/// The five checksum values a request carries (header or XML fields).
macro_rules! sent_checksums {
    ($input:expr) => {
        [
            (
                liuma_engine::ChecksumAlgorithm::Crc32,
                $input.checksum_crc32,
            ),
            (
                liuma_engine::ChecksumAlgorithm::Crc32c,
                $input.checksum_crc32c,
            ),
            (
                liuma_engine::ChecksumAlgorithm::Crc64Nvme,
                $input.checksum_crc64nvme,
            ),
            (liuma_engine::ChecksumAlgorithm::Sha1, $input.checksum_sha1),
            (
                liuma_engine::ChecksumAlgorithm::Sha256,
                $input.checksum_sha256,
            ),
        ]
    };
}
pub(crate) use sent_checksums;

/// What the value computed over a body must equal.
pub(crate) enum Expected {
    /// Nothing: compute and store.
    Nothing,
    /// The raw value of an `x-amz-checksum-*` header.
    Value(Sum),
    /// An aws-chunked trailer, read once the body has ended.
    Trailer(TrailingHeaders),
}

/// How a request body is checksummed.
pub(crate) struct Plan {
    pub algorithm: Alg,
    pub expected: Expected,
    /// Also compute CRC64NVME: a part of an upload created without an
    /// algorithm, whose object gets AWS's default full-object CRC64NVME
    /// whatever the parts were sent with.
    pub also_default: bool,
}

fn invalid(msg: String) -> S3Error {
    S3Error::with_message(s3s::S3ErrorCode::InvalidRequest, msg)
}

/// The single value among the five fields, if any; more than one is
/// refused as AWS does.
fn single(sent: [(Alg, Option<String>); 5]) -> S3Result<Option<(Alg, String)>> {
    let mut found = sent.into_iter().filter_map(|(a, v)| v.map(|v| (a, v)));
    let first = found.next();
    if found.next().is_some() {
        return Err(invalid(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                .into(),
        ));
    }
    Ok(first)
}

/// The algorithm of an s3s `ChecksumAlgorithm` value.
pub(crate) fn algorithm(a: &ChecksumAlgorithm) -> S3Result<Alg> {
    Alg::from_name(a.as_str()).ok_or_else(|| {
        invalid(format!(
            "Checksum algorithm provided is unsupported: {}",
            a.as_str()
        ))
    })
}

/// Decide how to checksum a PutObject/UploadPart body. `upload` is the
/// multipart upload's checksum, for parts.
pub(crate) fn plan(
    sent: [(Alg, Option<String>); 5],
    sdk_algorithm: Option<&ChecksumAlgorithm>,
    headers: &http::HeaderMap,
    trailers: Option<TrailingHeaders>,
    upload: Option<Option<UploadChecksum>>,
) -> S3Result<Plan> {
    let announced = headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|t| t.trim().strip_prefix("x-amz-checksum-"))
                .find_map(Alg::from_name)
        });
    let plan = if let Some((alg, value)) = single(sent)? {
        let Some(sum) = Sum::from_base64(alg, &value) else {
            return Err(invalid(format!(
                "Value for x-amz-checksum-{} header is invalid.",
                alg.header_name()
            )));
        };
        Plan {
            algorithm: alg,
            expected: Expected::Value(sum),
            also_default: false,
        }
    } else if let (Some(alg), Some(t)) = (announced, trailers) {
        Plan {
            algorithm: alg,
            expected: Expected::Trailer(t),
            also_default: false,
        }
    } else if let Some(a) = sdk_algorithm {
        Plan {
            algorithm: algorithm(a)?,
            expected: Expected::Nothing,
            also_default: false,
        }
    } else {
        let algorithm = upload.flatten().map_or(Alg::Crc64Nvme, |u| u.algorithm);
        Plan {
            algorithm,
            expected: Expected::Nothing,
            also_default: false,
        }
    };
    let mut plan = plan;
    plan.also_default = matches!(upload, Some(None)) && plan.algorithm != Alg::Crc64Nvme;
    if let Some(Some(up)) = upload
        && up.algorithm != plan.algorithm
    {
        return Err(invalid(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            up.algorithm.header_name(),
            plan.algorithm.header_name()
        )));
    }
    Ok(plan)
}

/// The checksum of CreateMultipartUpload: `x-amz-checksum-algorithm`
/// (or the SDK's) and `x-amz-checksum-type`, checked against what AWS
/// allows (CRC64NVME is full-object only, SHA-1/SHA-256 composite only).
pub(crate) fn upload_checksum(
    algorithm_sent: Option<&ChecksumAlgorithm>,
    kind_sent: Option<&ChecksumType>,
) -> S3Result<Option<UploadChecksum>> {
    let kind = kind_sent.map(kind_of).transpose()?;
    let Some(a) = algorithm_sent else {
        if kind.is_some() {
            return Err(invalid(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                    .into(),
            ));
        }
        return Ok(None);
    };
    let alg = algorithm(a)?;
    let kind = kind.unwrap_or(alg.default_type());
    if !alg.allows(kind) {
        return Err(invalid(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            alg.header_name()
        )));
    }
    Ok(Some(UploadChecksum {
        algorithm: alg,
        kind,
    }))
}

fn kind_of(t: &ChecksumType) -> S3Result<Kind> {
    Kind::from_name(t.as_str()).ok_or_else(|| {
        invalid(format!(
            "Value for x-amz-checksum-type header is invalid: {}",
            t.as_str()
        ))
    })
}

/// The s3s value of a checksum type.
pub(crate) fn type_dto(k: Kind) -> ChecksumType {
    ChecksumType::from_static(match k {
        Kind::FullObject => ChecksumType::FULL_OBJECT,
        Kind::Composite => ChecksumType::COMPOSITE,
    })
}

/// The s3s value of an algorithm.
pub(crate) fn algorithm_dto(a: Alg) -> ChecksumAlgorithm {
    ChecksumAlgorithm::from_static(match a {
        Alg::Crc32 => ChecksumAlgorithm::CRC32,
        Alg::Crc32c => ChecksumAlgorithm::CRC32C,
        Alg::Crc64Nvme => ChecksumAlgorithm::CRC64NVME,
        Alg::Sha1 => ChecksumAlgorithm::SHA1,
        Alg::Sha256 => ChecksumAlgorithm::SHA256,
    })
}

/// What a CompleteMultipartUpload request says about checksums.
pub(crate) fn complete_checksum(
    kind: Option<&ChecksumType>,
    expected: [(Alg, Option<String>); 5],
    parts: &[CompletedPart],
) -> S3Result<CompleteChecksum> {
    let parts = parts
        .iter()
        .map(|p| single(sent_checksums!(p.clone())))
        .collect::<S3Result<Vec<_>>>()?;
    Ok(CompleteChecksum {
        kind: kind.map(kind_of).transpose()?,
        expected: single(expected)?,
        parts,
    })
}

/// A stored checksum as the s3s `Checksum` DTO (GetObjectAttributes).
fn checksum_dto(c: &Sum, parts: u32) -> DtoChecksum {
    let mut out = DtoChecksum {
        checksum_type: Some(type_dto(c.kind)),
        ..Default::default()
    };
    set_checksum!(out, c.algorithm, c.display(parts));
    out
}

/// Which attributes a GetObjectAttributes request asks for (one header
/// may list several, comma-separated).
fn wants(input: &GetObjectAttributesInput, name: &str) -> bool {
    input
        .object_attributes
        .iter()
        .flat_map(|a| a.as_str().split(','))
        .any(|a| a.trim().eq_ignore_ascii_case(name))
}

pub(crate) async fn get_object_attributes(
    s: &LiumaS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let (info, parts) = s
        .engine
        .object_parts(&input.bucket, &input.key, input.version_id.as_deref())
        .await
        .map_err(s3_err)?;
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(ts(info.last_modified_ms)),
        version_id: version_header(Some(&bucket), &info.version_id),
        ..Default::default()
    };
    if wants(&input, "ETag") {
        out.e_tag = Some(etag(&info.etag));
    }
    if wants(&input, "ObjectSize") {
        out.object_size = Some(i64::try_from(info.size).unwrap_or(i64::MAX));
    }
    if wants(&input, "StorageClass") {
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if wants(&input, "Checksum") {
        out.checksum = info.checksum.as_ref().map(|c| checksum_dto(c, info.parts));
    }
    if wants(&input, "ObjectParts") && info.parts > 0 {
        let marker = input
            .part_number_marker
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000);
        let after: Vec<_> = parts.iter().filter(|p| p.part_number > marker).collect();
        let take = usize::try_from(max).unwrap_or(1000);
        let truncated = after.len() > take;
        let page: Vec<ObjectPart> = after
            .iter()
            .take(take)
            .map(|p| {
                let mut op = ObjectPart {
                    part_number: i32::try_from(p.part_number).ok(),
                    size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                    ..Default::default()
                };
                if let (Some(v), Some(c)) = (&p.checksum, &info.checksum) {
                    set_checksum!(op, c.algorithm, v.clone());
                }
                op
            })
            .collect();
        let next = page.last().and_then(|p| p.part_number);
        out.object_parts = Some(GetObjectAttributesParts {
            is_truncated: Some(truncated),
            max_parts: Some(max),
            next_part_number_marker: next,
            part_number_marker: input.part_number_marker,
            parts: Some(page),
            total_parts_count: i32::try_from(info.parts).ok(),
        });
    }
    Ok(S3Response::new(out))
}

/// True when a GET/HEAD asked for checksums (`x-amz-checksum-mode: ENABLED`).
pub(crate) fn mode_enabled(mode: Option<&s3s::dto::ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none5() -> [(Alg, Option<String>); 5] {
        [
            (Alg::Crc32, None),
            (Alg::Crc32c, None),
            (Alg::Crc64Nvme, None),
            (Alg::Sha1, None),
            (Alg::Sha256, None),
        ]
    }

    #[test]
    fn plans() {
        let h = http::HeaderMap::new();
        let p = plan(none5(), None, &h, None, None).unwrap();
        assert_eq!(p.algorithm, Alg::Crc64Nvme, "AWS's default");
        let mut sent = none5();
        sent[1].1 = Some("AAAAAA==".into());
        let p = plan(sent.clone(), None, &h, None, None).unwrap();
        assert_eq!(p.algorithm, Alg::Crc32c);
        assert!(!p.also_default);
        let p = plan(sent, None, &h, None, Some(None)).unwrap();
        assert!(p.also_default, "a part of an upload without algorithm");
        let mut sent = none5();
        sent[0].1 = Some("AAAAAA==".into());
        sent[1].1 = Some("AAAAAA==".into());
        let e = plan(sent, None, &h, None, None).err().unwrap();
        assert_eq!(e.code().as_str(), "InvalidRequest");
        let mut sent = none5();
        sent[0].1 = Some("not base64".into());
        assert!(plan(sent, None, &h, None, None).is_err());
        let up = UploadChecksum {
            algorithm: Alg::Sha256,
            kind: Kind::Composite,
        };
        let p = plan(none5(), None, &h, None, Some(Some(up))).unwrap();
        assert_eq!(p.algorithm, Alg::Sha256, "parts follow their upload");
        let mut sent = none5();
        sent[0].1 = Some("AAAAAA==".into());
        let e = plan(sent, None, &h, None, Some(Some(up))).err().unwrap();
        assert_eq!(e.code().as_str(), "InvalidRequest");
    }

    #[test]
    fn upload_types() {
        let a = |s: &'static str| ChecksumAlgorithm::from_static(s);
        let t = |s: &'static str| ChecksumType::from_static(s);
        let u = upload_checksum(Some(&a("CRC64NVME")), None)
            .unwrap()
            .unwrap();
        assert_eq!(u.kind, Kind::FullObject);
        let u = upload_checksum(Some(&a("CRC32")), None).unwrap().unwrap();
        assert_eq!(u.kind, Kind::Composite);
        assert!(upload_checksum(Some(&a("CRC64NVME")), Some(&t("COMPOSITE"))).is_err());
        assert!(upload_checksum(Some(&a("SHA256")), Some(&t("FULL_OBJECT"))).is_err());
        assert!(upload_checksum(None, Some(&t("FULL_OBJECT"))).is_err());
        assert!(upload_checksum(None, None).unwrap().is_none());
    }
}
