"""Export files in S3: presigned upload URLs and streamed reads of one exact upload (its ETag)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from viral.aws import client
from viral.errors import Permanent, Retryable
from viral.imports.report import refuse

_RETRYABLE_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"})


class ObjectChanged(Permanent):
    """The object at the key is no longer the upload being imported (a newer one replaced it)."""


def presigned_put(bucket: str, key: str, *, content_type: str, expires_s: int) -> str:
    """A URL that lets its holder PUT one object at `key` (with this Content-Type) until it expires."""
    import boto3  # the Lambda runtime provides it; imported on first use only
    from botocore.config import Config

    # botocore still presigns S3 URLs with Signature V2 unless told otherwise, which S3 refuses for new buckets.
    signer = boto3.client("s3", config=Config(signature_version="s3v4"))
    url: str = signer.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": key, "ContentType": content_type},
        ExpiresIn=expires_s,
        HttpMethod="PUT",
    )
    return url


@contextmanager
def open_upload(bucket: str, key: str, etag: str | None) -> Iterator[BinaryIO]:
    """Stream the object's bytes; with an ETag, only that version (ObjectChanged when it was replaced)."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if etag:
        params["IfMatch"] = etag
    try:
        answer = client("s3").get_object(**params)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code == "PreconditionFailed":
            raise ObjectChanged("the uploaded file was replaced by a newer upload") from error
        if code in ("NoSuchKey", "404"):
            raise refuse("FILE_GONE", "the uploaded file is no longer in storage") from error
        if status >= 500 or code in _RETRYABLE_CODES:
            raise Retryable("storage did not answer; the import will be retried") from error
        raise Permanent(f"storage refused to read the upload ({code})") from error
    except BotoCoreError as error:
        raise Retryable("storage could not be reached; the import will be retried") from error
    body = answer["Body"]
    try:
        yield body
    finally:
        body.close()
