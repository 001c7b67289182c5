/* test-render.c - bsf_render(): the AWS CLI's json, text and table forms,
 * and EC2's query XML, each an emitter over the same document. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blocksnap.h"
#include "bsfront.h"
#include "render.h"

/* Two snapshots as DescribeSnapshots returns them: the first tagged, the
 * second with a key (Extra) the first lacks. */
static const char snapshots[] =
    "{\"Snapshots\":[{\"SnapshotId\":\"snap-0123456789abcdef0\",\"State\":\"completed\","
    "\"VolumeSize\":1,\"Encrypted\":false,\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"},"
    "{\"Key\":\"team\",\"Value\":\"ops\"}]},{\"SnapshotId\":\"snap-1\",\"State\":\"pending\","
    "\"VolumeSize\":2,\"Encrypted\":true,\"Extra\":null}]}";

/* Parse @json (a test's document) and render it as bsf_render() does. */
static int render_text(const char *json, const char *format, const char *title, char **ret)
{
    json_error_t jerr;
    json_t *doc = json_loads(json, JSON_DECODE_ANY, &jerr);
    int r;

    if (!doc)
        fail_msg("test document does not parse: %s", jerr.text);
    r = bsf_render(doc, format, title, ret);
    json_decref(doc);
    return r;
}

static void expect(const char *json, const char *format, const char *want)
{
    char *text = NULL;

    assert_int_equal(render_text(json, format, NULL, &text), 0);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

static void test_json_pretty_in_order(void **state)
{
    expect("{\"b\":1,\"a\":[1,\"x\"],\"c\":{},\"d\":[],\"e\":\"\xc3\xa9\"}", "json",
           "{\n"
           "    \"b\": 1,\n"
           "    \"a\": [\n"
           "        1,\n"
           "        \"x\"\n"
           "    ],\n"
           "    \"c\": {},\n"
           "    \"d\": [],\n"
           "    \"e\": \"\xc3\xa9\"\n"
           "}\n");
    expect("\"x\"", "json", "\"x\"\n");
}

static void test_text_list_of_objects(void **state)
{
    /* Scalar keys sorted, their union over the list (missing: empty),
     * nested lists as their own lines, Python's True/False/None. */
    expect(snapshots, "text",
           "SNAPSHOTS\tFalse\t\tsnap-0123456789abcdef0\tcompleted\t1\n"
           "TAGS\tenv\tprod\n"
           "TAGS\tteam\tops\n"
           "SNAPSHOTS\tTrue\tNone\tsnap-1\tpending\t2\n");
}

static void test_text_top_object(void **state)
{
    /* What create-snapshot prints: an object without a list around it. */
    expect("{\"State\":\"pending\",\"SnapshotId\":\"snap-1\",\"Tags\":[{\"Value\":\"b\",\"Key\":"
           "\"a\"}]}",
           "text", "snap-1\tpending\nTAGS\ta\tb\n");
    expect("{\"Ids\":[\"a\",\"b\"],\"N\":null,\"T\":true,\"R\":1.5,\"E\":1e20}", "text",
           "1e+20\tNone\t1.5\tTrue\nIDS\ta\nIDS\tb\n");
}

static void test_text_scalars_and_lists(void **state)
{
    expect("[[1,2],[3]]", "text", "1\t2\n3\n");
    expect("[\"a\",\"b\"]", "text", "a\tb\n");
    expect("42", "text", "42\n");
    expect("{\"Snapshots\":[]}", "text", "");
    expect("{}", "text", "");
}

static void test_table_nested(void **state)
{
    expect("{\"SnapshotId\":\"snap-1\",\"State\":\"pending\",\"Tags\":[{\"Key\":\"a\","
           "\"Value\":\"b\"}]}",
           "table",
           "----------------------------\n"
           "|  SnapshotId  |   State   |\n"
           "+--------------+-----------+\n"
           "|  snap-1      |  pending  |\n"
           "+--------------+-----------+\n"
           "||          Tags          ||\n"
           "|+----------+-------------+|\n"
           "||   Key    |    Value    ||\n"
           "|+----------+-------------+|\n"
           "||  a       |  b          ||\n"
           "|+----------+-------------+|\n");
}

static void test_table_list_union_and_utf8(void **state)
{
    /* "é" is one column wide; a missing key is an empty cell. */
    expect("{\"V\":[{\"K\":\"\xc3\xa9\"},{\"K\":\"ab\",\"X\":1}]}", "table",
           "--------------\n"
           "|     V      |\n"
           "+------+-----+\n"
           "|  K   |  X  |\n"
           "+------+-----+\n"
           "|  \xc3\xa9   |     |\n"
           "|  ab  |  1  |\n"
           "+------+-----+\n");
}

static void test_table_single_scalar_and_control_chars(void **state)
{
    expect("{\"ChunksFreed\":3}", "table",
           "-----------------------\n"
           "|  ChunksFreed  |  3  |\n"
           "+---------------+-----+\n");
    /* A tab or newline in a value cannot break the box: it is escaped, as
     * in the text form. */
    expect("{\"Ids\":[\"a\",\"b\"],\"Name\":\"x\\ty\"}", "table",
           "-------------------\n"
           "|  Name  |  x\\ty  |\n"
           "+--------+--------+\n"
           "||      Ids      ||\n"
           "|+---------------+|\n"
           "||  a            ||\n"
           "||  b            ||\n"
           "|+---------------+|\n");
    expect("{}", "table", "");
}

/* A tag value with a newline and a tab forged a whole SNAPSHOTS line in the
 * text form, and an ESC (or the one-byte CSI, U+009B) reached the terminal
 * raw.  Both forms escape control characters the same way, in C's style,
 * and a backslash is doubled so that the escapes read back unambiguously. */
/* bsf_size_text(): exact bytes below 1 KiB, then one decimal in binary
 * units, never a rounded "1024.0" of a smaller unit. */
static void test_size_text(void **state)
{
    static const struct {
        uint64_t bytes;
        const char *text;
    } cases[] = {
        {0, "0 B"},
        {1, "1 B"},
        {1023, "1023 B"},
        {1024, "1.0 KiB"},
        {1536, "1.5 KiB"},
        {65536, "64.0 KiB"},
        {1048575, "1.0 MiB"}, /* 1023.999 KiB rounds up into the next unit */
        {1048576 - 52, "1023.9 KiB"},
        {3407872, "3.2 MiB"},
        {(uint64_t)3 << 30, "3.0 GiB"},
        {((uint64_t)1 << 40) + ((uint64_t)1 << 39), "1.5 TiB"},
        {(uint64_t)1 << 50, "1.0 PiB"},
        {UINT64_MAX, "16.0 EiB"},
    };
    char buf[BSF_SIZE_TEXT_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_ptr_equal(bsf_size_text(cases[i].bytes, buf), buf);
        assert_string_equal(buf, cases[i].text);
    }
}

/* A real number in JSON prints in its short form (a ratio rounded to two
 * decimals as 1.08, not as the nearest double's 17 digits), and in text as
 * Python's repr. */
static void test_real_numbers(void **state)
{
    char *text = NULL;

    (void)state;
    assert_int_equal(render_text("{\"Ratio\":1.08}", "json", NULL, &text), 0);
    assert_string_equal(text, "{\n    \"Ratio\": 1.08\n}\n");
    free(text);
    assert_int_equal(render_text("{\"Ratio\":1.08}", "text", NULL, &text), 0);
    assert_string_equal(text, "1.08\n");
    free(text);
}

static void test_escaping(void **state)
{
    static const char forged[] =
        "{\"Snapshots\":[{\"SnapshotId\":\"snap-1\",\"Tags\":[{\"Key\":\"k\","
        "\"Value\":\"v\\nSNAPSHOTS\\tsnap-2\\u001b[31m\\u009b\\\\\\r\\u007f\\u0001 \xc3\xa9\"}]}]}";
    char *text = NULL;

    (void)state;
    expect(forged, "text",
           "SNAPSHOTS\tsnap-1\n"
           "TAGS\tk\tv\\nSNAPSHOTS\\tsnap-2\\x1b[31m\\xc2\\x9b\\\\\\r\\x7f\\x01 \xc3\xa9\n");
    assert_int_equal(render_text(forged, "table", NULL, &text), 0);
    assert_non_null(
        strstr(text, "|  v\\nSNAPSHOTS\\tsnap-2\\x1b[31m\\xc2\\x9b\\\\\\r\\x7f\\x01 \xc3\xa9  |"));
    for (const char *p = text; *p; p++)
        assert_true((unsigned char)*p >= 0x20 || *p == '\n');
    free(text);
    /* Keys are escaped too (a list's key is the text form's first field). */
    expect("{\"a\\tb\":[{\"x\":\"1\"}]}", "text", "A\\tB\t1\n");
    /* The public escaper is the same one. */
    assert_int_equal(bsf_escape("a\x1b\\\t\xff\xc2\x85\xe2\x82\xac", &text), 0);
    assert_string_equal(text, "a\\x1b\\\\\\t\\xff\\xc2\\x85\xe2\x82\xac");
    free(text);
}

static void test_table_every_element_its_section(void **state)
{
    char *text = NULL;
    size_t titles = 0;

    /* Elements with nested lists each get their own titled section. */
    assert_int_equal(render_text(snapshots, "table", NULL, &text), 0);
    for (const char *p = text; (p = strstr(p, " Snapshots ")); p++)
        titles++;
    assert_int_equal(titles, 2);
    assert_non_null(strstr(text, "||  team "));
    /* Every line is as wide as the first. */
    size_t width = strcspn(text, "\n");
    for (const char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_int_equal(strcspn(line, "\n"), width);
    free(text);
}

/* The widest line of @text. */
static size_t widest(const char *text)
{
    size_t w = 0;

    for (const char *line = text; *line; line += strcspn(line, "\n") + 1) {
        size_t n = 0;
        for (const char *p = line; *p && *p != '\n'; p++)
            n += ((unsigned char)*p & 0xc0) != 0x80;
        w = n > w ? n : w;
    }
    return w;
}

/* describe-snapshots --output table was about 300 columns wide (a column
 * per field).  The describe lists show the columns a person reads, cut long
 * values, and draw a wide object as KEY | VALUE rows, so every describe
 * table fits in 120 columns even at the limits of what it holds. */
static void test_table_width(void **state)
{
    char json[8192], desc[256 * 2 + 1], key[128 * 2 + 1], value[257 * 2 + 1], path[600];
    char *text = NULL;

    (void)state;
    for (size_t i = 0; i < 255; i++)
        memcpy(desc + 2 * i, "\xc3\xa9", 2);
    desc[510] = '\0';
    memset(key, 'k', 127);
    key[127] = '\0';
    memset(value, 'v', 256);
    value[256] = '\0';
    memset(path, 'p', 500);
    memcpy(path, "/srv/", 5);
    strcpy(path + 500, "/disk.img");
    snprintf(json, sizeof json,
             "{\"Snapshots\":[{\"SnapshotId\":\"snap-0123456789abcdef0\",\"VolumeId\":"
             "\"vol-0123456789abcdef0\",\"State\":\"completed\",\"StartTime\":"
             "\"2026-12-07T02:14:01.001Z\",\"Progress\":\"100%%\",\"OwnerId\":\"123456789012\","
             "\"Description\":\"%s\",\"VolumeSize\":1,\"Encrypted\":false,\"StorageTier\":"
             "\"standard\",\"CompletionTime\":\"2026-12-07T02:14:01.037Z\",\"Tags\":[{\"Key\":"
             "\"%s\",\"Value\":\"%s\"}],\"VolumeSizeBytes\":1048576,\"ChunkSize\":65536,"
             "\"DataChunks\":0,\"BytesRead\":0,\"BytesWritten\":0,\"ChunksWritten\":0}]}",
             desc, key, value);
    assert_int_equal(render_text(json, "table", "DescribeSnapshots", &text), 0);
    assert_true(widest(text) <= 120);
    assert_non_null(strstr(text, "|  snap-0123456789abcdef0  |"));
    assert_non_null(strstr(text, "\xc3\xa9...")); /* the description, cut */
    assert_null(strstr(text, "ChunksWritten"));   /* JSON carries the rest */
    assert_non_null(strstr(text, "Tags"));
    free(text);

    snprintf(json, sizeof json,
             "{\"Volumes\":[{\"VolumeId\":\"vol-0123456789abcdef0\",\"Size\":1,\"SnapshotId\":"
             "\"\",\"AvailabilityZone\":\"locala\",\"State\":\"available\",\"CreateTime\":"
             "\"2026-12-07T02:19:31.616Z\",\"VolumeType\":\"standard\",\"Encrypted\":false,"
             "\"MultiAttachEnabled\":false,\"Path\":\"%s\",\"SizeBytes\":1048576,"
             "\"LastSnapshotId\":\"snap-0123456789abcdef0\"}]}",
             path);
    assert_int_equal(render_text(json, "table", "DescribeVolumes", &text), 0);
    assert_true(widest(text) <= 120);
    assert_non_null(strstr(text, "|  ...ppp")); /* a path keeps its end */
    assert_non_null(strstr(text, "p/disk.img  |"));
    free(text);

    snprintf(json, sizeof json,
             "{\"Images\":[{\"ImageId\":\"ami-0123456789abcdef0\",\"Name\":\"%.128s\","
             "\"State\":\"available\",\"CreationDate\":\"2026-12-07T02:20:57.746Z\","
             "\"Description\":\"%s\",\"Architecture\":\"x86_64\",\"RootDeviceName\":"
             "\"/dev/xvda\",\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":"
             "{\"SnapshotId\":\"snap-0123456789abcdef0\",\"VolumeSize\":8,\"VolumeType\":"
             "\"standard\",\"DeleteOnTermination\":true,\"Encrypted\":false}}]}]}",
             value, desc);
    assert_int_equal(render_text(json, "table", "DescribeImages", &text), 0);
    assert_true(widest(text) <= 120);
    /* A mapping's Ebs fields are columns of the mapping's row. */
    const char *row = strstr(text, "|||  /dev/xvda ");
    assert_non_null(row);
    size_t len = strcspn(row, "\n");
    char *line = strndup(row, len);
    assert_non_null(strstr(line, "|  snap-0123456789abcdef0 "));
    assert_non_null(strstr(line, "|  8 "));
    assert_non_null(strstr(line, "|  standard "));
    free(line);
    free(text);

    /* An object as wide as describe-store's: KEY | VALUE rows. */
    snprintf(json, sizeof json,
             "{\"Region\":\"local\",\"Path\":\"%s\",\"StoreUuid\":"
             "\"299f1ab5-8d0c-4185-8783-2e5039b2d3bc\",\"FormatVersion\":1,\"ChunkSize\":65536,"
             "\"ChunkCount\":0,\"PackCount\":1,\"PackBytes\":32,\"LogicalBytes\":0,"
             "\"StoredBytes\":0,\"MetaBytes\":53248,\"SnapshotCount\":1,\"VolumeCount\":1,"
             "\"OwnerId\":\"123456789012\"}",
             path);
    assert_int_equal(render_text(json, "table", "DescribeStore", &text), 0);
    assert_true(widest(text) <= 120);
    assert_non_null(strstr(text, "|  ChunkCount     |  0 "));
    free(text);
}

static void expect_titled(const char *json, const char *format, const char *title, const char *want)
{
    char *text = NULL;

    assert_int_equal(render_text(json, format, title, &text), 0);
    assert_string_equal(text, want);
    free(text);
}

static void test_table_titled(void **state)
{
    /* The operation's name on top, the document's sections one level in
     * (a volume's columns in the order a person reads them, id first). */
    expect_titled("{\"Volumes\":[{\"VolumeId\":\"vol-1\",\"Size\":1}]}", "table", "DescribeVolumes",
                  "-------------------------\n"
                  "|    DescribeVolumes    |\n"
                  "+-----------------------+\n"
                  "||       Volumes       ||\n"
                  "|+------------+--------+|\n"
                  "||  VolumeId  |  Size  ||\n"
                  "|+------------+--------+|\n"
                  "||  vol-1     |  1     ||\n"
                  "|+------------+--------+|\n");
    /* A flat object's rows go under the title, in the same box. */
    expect_titled("{\"SnapshotId\":\"snap-1\",\"State\":\"pending\"}", "table", "CreateSnapshot",
                  "----------------------------\n"
                  "|      CreateSnapshot      |\n"
                  "+--------------+-----------+\n"
                  "|  SnapshotId  |   State   |\n"
                  "+--------------+-----------+\n"
                  "|  snap-1      |  pending  |\n"
                  "+--------------+-----------+\n");
    /* An empty list: the title alone, as the AWS CLI prints it. */
    expect_titled("{\"Snapshots\":[]}", "table", "DescribeSnapshots",
                  "-----------------------\n"
                  "|  DescribeSnapshots  |\n"
                  "+---------------------+\n");
    /* json and text ignore the title. */
    expect_titled("{\"A\":1}", "text", "Op", "1\n");
    expect_titled("{\"A\":1}", "json", "Op", "{\n    \"A\": 1\n}\n");
}

static void test_errors(void **state)
{
    char *text = NULL;
    json_t *doc = json_object();

    (void)state;
    assert_int_equal(bsf_render(doc, "yaml", NULL, &text), -EINVAL);
    assert_string_equal(bsf_last_error()->code, "InvalidParameterValue");
    assert_non_null(strstr(bsf_last_error()->message, "'yaml'"));
    assert_null(text);
    assert_null(bsf_emitter_find("yaml"));
    assert_non_null(bsf_emitter_find("table"));
    json_decref(doc);
}

/* The API server's form: the same document as EC2's query API answers,
 * lists as ...Set of <item>, names in lowerCamelCase (a snapshot's State
 * is EC2's <status>), text escaped. */
static void test_xml(void **state)
{
    (void)state;
    expect_titled(snapshots, "xml", "DescribeSnapshots",
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<DescribeSnapshotsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
                  "    <snapshotSet>\n"
                  "        <item>\n"
                  "            <snapshotId>snap-0123456789abcdef0</snapshotId>\n"
                  "            <status>completed</status>\n"
                  "            <volumeSize>1</volumeSize>\n"
                  "            <encrypted>false</encrypted>\n"
                  "            <tagSet>\n"
                  "                <item>\n"
                  "                    <key>env</key>\n"
                  "                    <value>prod</value>\n"
                  "                </item>\n"
                  "                <item>\n"
                  "                    <key>team</key>\n"
                  "                    <value>ops</value>\n"
                  "                </item>\n"
                  "            </tagSet>\n"
                  "        </item>\n"
                  "        <item>\n"
                  "            <snapshotId>snap-1</snapshotId>\n"
                  "            <status>pending</status>\n"
                  "            <volumeSize>2</volumeSize>\n"
                  "            <encrypted>true</encrypted>\n"
                  "            <extra></extra>\n"
                  "        </item>\n"
                  "    </snapshotSet>\n"
                  "</DescribeSnapshotsResponse>\n");
    /* EC2's own list names; markup and control characters in text cannot
     * forge an element or break the document. */
    expect_titled("{\"Images\":[{\"Name\":\"a<b>&\\\"c\\u0001\",\"BlockDeviceMappings\":[]}],"
                  "\"Return\":true}",
                  "xml", "DescribeImages",
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
                  "    <imagesSet>\n"
                  "        <item>\n"
                  "            <name>a&lt;b&gt;&amp;&quot;c\\x01</name>\n"
                  "            <blockDeviceMapping>\n"
                  "            </blockDeviceMapping>\n"
                  "        </item>\n"
                  "    </imagesSet>\n"
                  "    <return>true</return>\n"
                  "</DescribeImagesResponse>\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_pretty_in_order),
        cmocka_unit_test(test_text_list_of_objects),
        cmocka_unit_test(test_text_top_object),
        cmocka_unit_test(test_text_scalars_and_lists),
        cmocka_unit_test(test_table_nested),
        cmocka_unit_test(test_table_list_union_and_utf8),
        cmocka_unit_test(test_table_single_scalar_and_control_chars),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_size_text),
        cmocka_unit_test(test_real_numbers),
        cmocka_unit_test(test_table_every_element_its_section),
        cmocka_unit_test(test_table_titled),
        cmocka_unit_test(test_table_width),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_xml),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
