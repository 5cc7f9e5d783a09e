//! Wiring: settings, the [`s3s::S3`] implementation, and the service a
//! listener serves.

use std::sync::Arc;

use liuma_engine::Engine;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3Request, S3Response, S3Result};

use crate::auth::{KeyAccess, KeyAuth};
use crate::front::S3Front;
use crate::{
    access_config, bucket, checksum, lifecycle, list, multipart, object, object_acl, sse, tagging,
};

type Req<T> = S3Request<T>;
type Res<T> = S3Result<S3Response<T>>;

/// Settings of the S3 front end.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// Region reported to clients and expected in signatures' scope. Default "us-east-1".
    pub region: String,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`);
    /// path-style only when absent.
    pub domain: Option<String>,
    /// Largest request header section (all names and values), in bytes. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Largest single PutObject / UploadPart body, in bytes. Default 5 GiB (as S3).
    pub max_put_bytes: u64,
    /// Largest XML request body (DeleteObjects, CompleteMultipartUpload...), in bytes. Default 2 MiB.
    pub max_xml_bytes: usize,
    /// Largest difference allowed between a request's signing time and ours, in seconds. Default 900.
    pub max_skew_secs: u32,
    /// Accept SigV2 (header and presigned `?Signature=`). Default false:
    /// refused with 400 InvalidRequest, as AWS does where SigV2 is retired.
    pub allow_sigv2: bool,
    /// Accept SSE-C customer keys on plain-HTTP requests. Default false:
    /// refused with 400 InvalidRequest, as AWS does; for a node behind a
    /// TLS-terminating proxy, and for tests and benchmarks.
    pub ssec_plain_http: bool,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            region: "us-east-1".to_owned(),
            domain: None,
            max_header_bytes: 16 << 10,
            max_put_bytes: 5 << 30,
            max_xml_bytes: 2 << 20,
            max_skew_secs: 900,
            allow_sigv2: false,
            ssec_plain_http: false,
        }
    }
}

/// The S3 implementation: the engine plus settings.
#[derive(Clone)]
pub(crate) struct LiumaS3 {
    pub engine: Engine,
    pub settings: Arc<S3Settings>,
}

impl std::fmt::Debug for LiumaS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiumaS3").finish_non_exhaustive()
    }
}

/// Build the S3 HTTP service over `engine`.
pub fn build(engine: Engine, settings: S3Settings) -> S3Front {
    let settings = Arc::new(settings);
    let s3 = LiumaS3 {
        engine: engine.clone(),
        settings: settings.clone(),
    };
    let mut b = S3ServiceBuilder::new(s3);
    b.set_auth(KeyAuth {
        engine: engine.clone(),
    });
    b.set_access(KeyAccess {
        engine: engine.clone(),
        max_put_bytes: settings.max_put_bytes,
    });
    if let Some(domain) = &settings.domain {
        b.set_host(crate::front::DomainHost::new(domain));
    }
    let mut cfg = s3s::config::S3Config::default();
    cfg.xml_max_body_size = settings.max_xml_bytes;
    cfg.presigned_url_max_skew_time_secs = settings.max_skew_secs;
    cfg.post_object_max_file_size = settings.max_put_bytes;
    b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        cfg,
    ))));
    let post = crate::post::PostObject {
        s3: LiumaS3 {
            engine: engine.clone(),
            settings: settings.clone(),
        },
        auth: KeyAuth {
            engine: engine.clone(),
        },
        access: KeyAccess {
            engine: engine.clone(),
            max_put_bytes: settings.max_put_bytes,
        },
    };
    S3Front::new(b.build(), engine, settings, post)
}

/// One line per operation: the work lives in the per-feature modules.
#[async_trait::async_trait]
impl s3s::S3 for LiumaS3 {
    async fn list_buckets(&self, req: Req<ListBucketsInput>) -> Res<ListBucketsOutput> {
        bucket::list_buckets(self, req).await
    }
    async fn create_bucket(&self, req: Req<CreateBucketInput>) -> Res<CreateBucketOutput> {
        bucket::create_bucket(self, req).await
    }
    async fn head_bucket(&self, req: Req<HeadBucketInput>) -> Res<HeadBucketOutput> {
        bucket::head_bucket(self, req).await
    }
    async fn delete_bucket(&self, req: Req<DeleteBucketInput>) -> Res<DeleteBucketOutput> {
        bucket::delete_bucket(self, req).await
    }
    async fn get_bucket_location(
        &self,
        req: Req<GetBucketLocationInput>,
    ) -> Res<GetBucketLocationOutput> {
        bucket::get_bucket_location(self, req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: Req<GetBucketVersioningInput>,
    ) -> Res<GetBucketVersioningOutput> {
        bucket::get_bucket_versioning(self, req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: Req<PutBucketVersioningInput>,
    ) -> Res<PutBucketVersioningOutput> {
        bucket::put_bucket_versioning(self, req).await
    }
    async fn get_bucket_cors(&self, req: Req<GetBucketCorsInput>) -> Res<GetBucketCorsOutput> {
        bucket::get_bucket_cors(self, req).await
    }
    async fn put_bucket_cors(&self, req: Req<PutBucketCorsInput>) -> Res<PutBucketCorsOutput> {
        bucket::put_bucket_cors(self, req).await
    }
    async fn delete_bucket_cors(
        &self,
        req: Req<DeleteBucketCorsInput>,
    ) -> Res<DeleteBucketCorsOutput> {
        bucket::delete_bucket_cors(self, req).await
    }
    async fn put_bucket_encryption(
        &self,
        req: Req<PutBucketEncryptionInput>,
    ) -> Res<PutBucketEncryptionOutput> {
        sse::put_bucket_encryption(self, req).await
    }
    async fn get_bucket_encryption(
        &self,
        req: Req<GetBucketEncryptionInput>,
    ) -> Res<GetBucketEncryptionOutput> {
        sse::get_bucket_encryption(self, req).await
    }
    async fn delete_bucket_encryption(
        &self,
        req: Req<DeleteBucketEncryptionInput>,
    ) -> Res<DeleteBucketEncryptionOutput> {
        sse::delete_bucket_encryption(self, req).await
    }
    async fn put_bucket_lifecycle_configuration(
        &self,
        req: Req<PutBucketLifecycleConfigurationInput>,
    ) -> Res<PutBucketLifecycleConfigurationOutput> {
        lifecycle::put_bucket_lifecycle_configuration(self, req).await
    }
    async fn get_bucket_lifecycle_configuration(
        &self,
        req: Req<GetBucketLifecycleConfigurationInput>,
    ) -> Res<GetBucketLifecycleConfigurationOutput> {
        lifecycle::get_bucket_lifecycle_configuration(self, req).await
    }
    async fn delete_bucket_lifecycle(
        &self,
        req: Req<DeleteBucketLifecycleInput>,
    ) -> Res<DeleteBucketLifecycleOutput> {
        lifecycle::delete_bucket_lifecycle(self, req).await
    }
    async fn get_bucket_acl(&self, req: Req<GetBucketAclInput>) -> Res<GetBucketAclOutput> {
        access_config::get_bucket_acl(self, req).await
    }
    async fn put_bucket_acl(&self, req: Req<PutBucketAclInput>) -> Res<PutBucketAclOutput> {
        access_config::put_bucket_acl(self, req).await
    }
    async fn get_object_acl(&self, req: Req<GetObjectAclInput>) -> Res<GetObjectAclOutput> {
        object_acl::get_object_acl(self, req).await
    }
    async fn put_object_acl(&self, req: Req<PutObjectAclInput>) -> Res<PutObjectAclOutput> {
        object_acl::put_object_acl(self, req).await
    }
    async fn put_bucket_policy(
        &self,
        req: Req<PutBucketPolicyInput>,
    ) -> Res<PutBucketPolicyOutput> {
        access_config::put_bucket_policy(self, req).await
    }
    async fn get_bucket_policy(
        &self,
        req: Req<GetBucketPolicyInput>,
    ) -> Res<GetBucketPolicyOutput> {
        access_config::get_bucket_policy(self, req).await
    }
    async fn delete_bucket_policy(
        &self,
        req: Req<DeleteBucketPolicyInput>,
    ) -> Res<DeleteBucketPolicyOutput> {
        access_config::delete_bucket_policy(self, req).await
    }
    async fn get_bucket_policy_status(
        &self,
        req: Req<GetBucketPolicyStatusInput>,
    ) -> Res<GetBucketPolicyStatusOutput> {
        access_config::get_bucket_policy_status(self, req).await
    }
    async fn put_bucket_ownership_controls(
        &self,
        req: Req<PutBucketOwnershipControlsInput>,
    ) -> Res<PutBucketOwnershipControlsOutput> {
        access_config::put_bucket_ownership_controls(self, req).await
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: Req<GetBucketOwnershipControlsInput>,
    ) -> Res<GetBucketOwnershipControlsOutput> {
        access_config::get_bucket_ownership_controls(self, req).await
    }
    async fn delete_bucket_ownership_controls(
        &self,
        req: Req<DeleteBucketOwnershipControlsInput>,
    ) -> Res<DeleteBucketOwnershipControlsOutput> {
        access_config::delete_bucket_ownership_controls(self, req).await
    }
    async fn put_public_access_block(
        &self,
        req: Req<PutPublicAccessBlockInput>,
    ) -> Res<PutPublicAccessBlockOutput> {
        access_config::put_public_access_block(self, req).await
    }
    async fn get_public_access_block(
        &self,
        req: Req<GetPublicAccessBlockInput>,
    ) -> Res<GetPublicAccessBlockOutput> {
        access_config::get_public_access_block(self, req).await
    }
    async fn delete_public_access_block(
        &self,
        req: Req<DeletePublicAccessBlockInput>,
    ) -> Res<DeletePublicAccessBlockOutput> {
        access_config::delete_public_access_block(self, req).await
    }
    async fn put_object(&self, req: Req<PutObjectInput>) -> Res<PutObjectOutput> {
        object::put_object(self, req).await
    }
    async fn get_object(&self, req: Req<GetObjectInput>) -> Res<GetObjectOutput> {
        object::get_object(self, req).await
    }
    async fn head_object(&self, req: Req<HeadObjectInput>) -> Res<HeadObjectOutput> {
        object::head_object(self, req).await
    }
    async fn get_object_attributes(
        &self,
        req: Req<GetObjectAttributesInput>,
    ) -> Res<GetObjectAttributesOutput> {
        checksum::get_object_attributes(self, req).await
    }
    async fn delete_object(&self, req: Req<DeleteObjectInput>) -> Res<DeleteObjectOutput> {
        object::delete_object(self, req).await
    }
    async fn delete_objects(&self, req: Req<DeleteObjectsInput>) -> Res<DeleteObjectsOutput> {
        object::delete_objects(self, req).await
    }
    async fn copy_object(&self, req: Req<CopyObjectInput>) -> Res<CopyObjectOutput> {
        object::copy_object(self, req).await
    }
    async fn list_objects(&self, req: Req<ListObjectsInput>) -> Res<ListObjectsOutput> {
        list::list_objects(self, req).await
    }
    async fn list_objects_v2(&self, req: Req<ListObjectsV2Input>) -> Res<ListObjectsV2Output> {
        list::list_objects_v2(self, req).await
    }
    async fn list_object_versions(
        &self,
        req: Req<ListObjectVersionsInput>,
    ) -> Res<ListObjectVersionsOutput> {
        list::list_object_versions(self, req).await
    }
    async fn create_multipart_upload(
        &self,
        req: Req<CreateMultipartUploadInput>,
    ) -> Res<CreateMultipartUploadOutput> {
        multipart::create_multipart_upload(self, req).await
    }
    async fn upload_part(&self, req: Req<UploadPartInput>) -> Res<UploadPartOutput> {
        multipart::upload_part(self, req).await
    }
    async fn upload_part_copy(&self, req: Req<UploadPartCopyInput>) -> Res<UploadPartCopyOutput> {
        multipart::upload_part_copy(self, req).await
    }
    async fn list_parts(&self, req: Req<ListPartsInput>) -> Res<ListPartsOutput> {
        multipart::list_parts(self, req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: Req<ListMultipartUploadsInput>,
    ) -> Res<ListMultipartUploadsOutput> {
        multipart::list_multipart_uploads(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: Req<CompleteMultipartUploadInput>,
    ) -> Res<CompleteMultipartUploadOutput> {
        multipart::complete_multipart_upload(self, req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: Req<AbortMultipartUploadInput>,
    ) -> Res<AbortMultipartUploadOutput> {
        multipart::abort_multipart_upload(self, req).await
    }
    async fn get_object_tagging(
        &self,
        req: Req<GetObjectTaggingInput>,
    ) -> Res<GetObjectTaggingOutput> {
        tagging::get_object_tagging(self, req).await
    }
    async fn put_object_tagging(
        &self,
        req: Req<PutObjectTaggingInput>,
    ) -> Res<PutObjectTaggingOutput> {
        tagging::put_object_tagging(self, req).await
    }
    async fn delete_object_tagging(
        &self,
        req: Req<DeleteObjectTaggingInput>,
    ) -> Res<DeleteObjectTaggingOutput> {
        tagging::delete_object_tagging(self, req).await
    }
    async fn get_bucket_tagging(
        &self,
        req: Req<GetBucketTaggingInput>,
    ) -> Res<GetBucketTaggingOutput> {
        tagging::get_bucket_tagging(self, req).await
    }
    async fn put_bucket_tagging(
        &self,
        req: Req<PutBucketTaggingInput>,
    ) -> Res<PutBucketTaggingOutput> {
        tagging::put_bucket_tagging(self, req).await
    }
    async fn delete_bucket_tagging(
        &self,
        req: Req<DeleteBucketTaggingInput>,
    ) -> Res<DeleteBucketTaggingOutput> {
        tagging::delete_bucket_tagging(self, req).await
    }
}
