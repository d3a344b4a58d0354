import Foundation
import Testing
import LitestreamHTTP

@testable import LitestreamClient
@testable import LitestreamConfig
@testable import LitestreamCore
@testable import LitestreamS3
@testable import LitestreamServer

@Suite struct S3XMLTests {
    @Test func listObjectsV2WithURLEncoding() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>\
            <Prefix>db%2F0000%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType>\
            <IsTruncated>true</IsTruncated>\
            <Contents><Key>db/0000/0000000000000001-0000000000000001.ltx</Key>\
            <LastModified>2026-11-27T04:12:53.217Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>198</Size>\
            <StorageClass>STANDARD</StorageClass></Contents>\
            <Contents><Key>db/paren%281%29%20a%2Bb%C3%A9.ltx</Key><LastModified>2026-11-27T04:12:54Z</LastModified>\
            <Size>5368709120</Size></Contents>\
            <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\
            </ListBucketResult>
            """
        let page = try S3XML.parseListObjectsV2(Data(xml.utf8))
        #expect(page.isTruncated)
        #expect(page.nextContinuationToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        #expect(page.objects.map(\.key) == ["db/0000/0000000000000001-0000000000000001.ltx", "db/paren(1) a+bé.ltx"])
        #expect(page.objects.map(\.size) == [198, 5_368_709_120])
        #expect(page.objects[0].etag == "\"abc\"")
        #expect(page.objects[0].lastModified == Date(timeIntervalSince1970: 1_795_752_773.217))
        #expect(page.objects[1].lastModified == Date(timeIntervalSince1970: 1_795_752_774))
    }

    @Test func listWithoutEncodingKeepsPercent() throws {
        let xml = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a%20b</Key><Size>1</Size></Contents></ListBucketResult>"
        let page = try S3XML.parseListObjectsV2(Data(xml.utf8))
        #expect(!page.isTruncated && page.objects.map(\.key) == ["a%20b"])
        #expect(throws: S3XML.Malformed.self) { try S3XML.parseListObjectsV2(Data("<Error/>".utf8)) }
        #expect(throws: S3XML.Malformed.self) { try S3XML.parseListObjectsV2(Data("not xml".utf8)) }
    }

    @Test func errorBodies() throws {
        let e = S3XML.parseError(Data("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>\
            <BucketName>nope</BucketName><RequestId>4442587FB7D0A2F9</RequestId></Error>
            """.utf8))
        #expect(e == S3XML.ErrorBody(code: "NoSuchBucket", message: "The specified bucket does not exist", region: nil, requestID: "4442587FB7D0A2F9"))
        let redirect = S3XML.parseError(Data("<Error><Code>AuthorizationHeaderMalformed</Code><Message>wrong region</Message><Region>eu-west-1</Region></Error>".utf8))
        #expect(redirect?.region == "eu-west-1")
        #expect(S3XML.parseError(Data("<CompleteMultipartUploadResult/>".utf8)) == nil)
        #expect(S3XML.parseError(Data()) == nil)
    }

    @Test func multipartBodies() throws {
        #expect(try S3XML.parseInitiateMultipartUpload(Data("""
            <InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>\
            <Key>k</Key><UploadId>VXBsb2FkIElE+/==</UploadId></InitiateMultipartUploadResult>
            """.utf8)) == "VXBsb2FkIElE+/==")
        #expect(try S3XML.parseCompleteMultipartUpload(Data("""
            <CompleteMultipartUploadResult><Location>x</Location><Bucket>b</Bucket><Key>k</Key>\
            <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag></CompleteMultipartUploadResult>
            """.utf8)) == "\"3858f62230ac3c915f300c664312c11f-9\"")
        // A 200 response to CompleteMultipartUpload can carry an error.
        let inline = Data("<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>".utf8)
        #expect(S3XML.parseError(inline)?.code == "InternalError")
        #expect(throws: S3XML.Malformed.self) { try S3XML.parseCompleteMultipartUpload(inline) }
        let body = String(decoding: S3XML.completeMultipartUploadBody(parts: [(2, "\"b\""), (1, "\"a\"")]), as: UTF8.self)
        #expect(body.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part><Part><PartNumber>2</PartNumber>"))
    }

    @Test func deleteResult() throws {
        let r = try S3XML.parseDeleteResult(Data("""
            <DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>a</Key></Deleted>\
            <Error><Key>b&amp;c</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>
            """.utf8))
        #expect(r.deleted == ["a"])
        #expect(r.errors.count == 1 && r.errors[0].key == "b&c" && r.errors[0].code == "AccessDenied")
        let body = String(decoding: S3XML.deleteObjectsBody(keys: ["x<&>y"]), as: UTF8.self)
        #expect(body.contains("<Key>x&lt;&amp;&gt;y</Key>"))
    }

    @Test func timestamps() {
        #expect(S3Timestamp.format(milliseconds: 1_795_752_773_217) == "2026-11-27T04:12:53.217Z")
        #expect(S3Timestamp.format(milliseconds: 1_795_752_773_200) == "2026-11-27T04:12:53.2Z")
        #expect(S3Timestamp.format(milliseconds: 1_795_752_773_000) == "2026-11-27T04:12:53Z")
        #expect(S3Timestamp.parse("2026-11-27T04:12:53.217Z") == 1_795_752_773_217)
        #expect(S3Timestamp.parse("2026-11-27T04:12:53.217123456Z") == 1_795_752_773_217)
        #expect(S3Timestamp.parse("2026-11-27T04:12:53.2Z") == 1_795_752_773_200)
        #expect(S3Timestamp.parse("2026-11-27T05:12:53+01:00") == 1_795_752_773_000)
        #expect(S3Timestamp.parse("2026-11-27 04:12") == nil)
    }

    @Test func configurationFromURL() throws {
        let c = try S3Configuration.parse(url: "s3://bkt/backups//db/?endpoint=http://127.0.0.1:9000&region=eu-west-1&force-path-style=true&part-size=8MB")
        #expect(c.bucket == "bkt" && c.path == "backups/db" && c.endpoint == "http://127.0.0.1:9000")
        #expect(c.region == "eu-west-1" && c.forcePathStyle == true && c.partSize == 8 << 20)
        #expect(try S3Configuration.parse(url: "s3://bkt").path == ".")
        #expect(throws: S3Configuration.Invalid.self) { try S3Configuration.parse(url: "s3:///path") }
        #expect(throws: S3Configuration.Invalid.self) { try S3Configuration.parse(url: "s3://b/p?part-size=1MB") }
        // Path style and region default with an endpoint; virtual host on AWS; credentials from the environment.
        let env = ["AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"]
        let minio = try S3Client(configuration: S3Configuration(bucket: "b", path: "p", endpoint: "http://minio:9000"), environment: env)
        #expect(minio.pathStyle && minio.hostHeader == "minio:9000" && minio.signer.region == "us-east-1")
        #expect(minio.rawPath(key: "p/0000/x") == "/b/p/0000/x")
        let aws = try S3Client(configuration: S3Configuration(bucket: "b", path: "p", region: "eu-west-1"), environment: env)
        #expect(!aws.pathStyle && aws.hostHeader == "b.s3.eu-west-1.amazonaws.com" && aws.rawPath(key: "k") == "/k")
        let ls = try S3Client(configuration: S3Configuration(bucket: "b", path: "p"), environment: ["LITESTREAM_ACCESS_KEY_ID": "L", "LITESTREAM_SECRET_ACCESS_KEY": "S"])
        #expect(ls.signer.accessKeyID == "L")
        #expect(throws: S3Configuration.Invalid.self) { try S3Client(configuration: S3Configuration(bucket: "b", path: "p"), environment: [:]) }
    }

    /// Our own XML reader (no libxml2): what servers send parses, and anything not well-formed is rejected.
    @Test func readerAcceptsWhatServersSendAndRejectsTheMalformed() throws {
        let doc = Data("""
            \u{FEFF}<?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE Error>
            <!-- a comment <Error> -->
            <s3:Error xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/" note='a > b'>
              <s3:Code>Slow&#x44;own</s3:Code>
              <Message>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#233;<![CDATA[ <raw> & ]]>!</Message>
              <Empty/><Empty attr="1" />
              <?processing instruction?>
            </s3:Error>

            """.utf8)
        let root = try #require(S3XML.parse(doc))
        #expect(root.name == "Error")
        #expect(root.string("Code") == "SlowDown")
        #expect(root.string("Message") == "a <b> & \"c\" 'd' é <raw> & !")
        #expect(root.all("Empty").count == 2 && root.string("Empty") == "")
        #expect(S3XML.parseError(doc)?.code == "SlowDown")
        for bad in [
            "<a><b></a></b>", "<a>", "<a></a><b></b>", "text<a/>", "<a/>text", "<a>&unknown;</a>", "<a>&amp</a>",
            "<a x=1></a>", "<a x=\"1></a>", "<a><!-- open </a>", "<a><![CDATA[ open</a>", "</a>", "<a></a >x",
            "<a>&#xZZ;</a>", "<a>&#1114112;</a>",
        ] {
            #expect(S3XML.parse(Data(bad.utf8)) == nil, "\(bad)")
        }
        #expect(S3XML.parse(Data("<a></a >".utf8))?.name == "a")
    }
}
