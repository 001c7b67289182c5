/* xml.c - EC2's query API answer: a document as the XML EC2 returns.
 *
 * The API server (EC2's query protocol) answers with the same documents the
 * CLI prints, in XML: the document's members become elements named in
 * lowerCamelCase ("SnapshotId" -> <snapshotId>), each list becomes a
 * "...Set" element holding one <item> per member (EC2's own names where
 * they differ from the rule), and the whole is wrapped in
 * <TITLEResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">.
 * Element names come from the document's keys, which the engine writes;
 * text comes from users and stores, so it is escaped: the five XML
 * entities, and the characters XML 1.0 cannot hold at all (C0 controls but
 * tab, newline and carriage return; bytes that are not UTF-8) written as
 * bsf_escape() writes them.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "render.h"

#define XML_NS "http://ec2.amazonaws.com/doc/2016-11-15/"

/* Lists whose EC2 element is not the rule's (singular + "Set"). */
static const struct {
    const char *key, *element;
} list_names[] = {
    {"Images", "imagesSet"},
    {"BlockDeviceMappings", "blockDeviceMapping"},
    {"ProductCodes", "productCodes"},
    {"LaunchPermissions", "launchPermission"},
};

static void put_text(struct render_buf *b, const char *s)
{
    while (*s) {
        unsigned char c = (unsigned char)*s;
        size_t len = bsnap_utf8_char_len(s);
        const char *ent = c == '&'    ? "&amp;"
                          : c == '<'  ? "&lt;"
                          : c == '>'  ? "&gt;"
                          : c == '"'  ? "&quot;"
                          : c == '\'' ? "&apos;"
                                      : NULL;

        if (ent) {
            render_buf_puts(b, ent);
        } else if (len > 1 || (c >= 0x20 && c < 0x80) || c == '\t' || c == '\n' || c == '\r') {
            render_buf_add(b, s, len);
        } else {
            char one[2] = {(char)c, 0}; /* a C0 control or a stray byte */
            render_escape(b, one);
        }
        s += len;
    }
}

/* Write the element name of key @key: lowerCamelCase (@lower), and for a
 * list (@list) EC2's "...Set" name.  Keys are the engine's ASCII words; any
 * other character is left out, so the name stays a valid XML name. */
static void put_name_as(struct render_buf *b, const char *key, bool list, bool lower)
{
    size_t n = strlen(key);

    if (list) {
        for (size_t i = 0; i < ARRAY_SIZE(list_names); i++)
            if (strcmp(list_names[i].key, key) == 0) {
                render_buf_puts(b, list_names[i].element);
                return;
            }
        if (n > 1 && key[n - 1] == 's')
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!isalnum((unsigned char)c) && c != '_' && c != '-' && c != '.')
            continue;
        if (i == 0 && lower)
            c = (char)tolower((unsigned char)c);
        render_buf_add(b, &c, 1);
    }
    if (n == 0 || !isalpha((unsigned char)key[0]))
        render_buf_puts(b, "_");
    if (list)
        render_buf_puts(b, "Set");
}

/* Members whose EC2 element is not the rule's, by where they are: in the
 * items of the list @ctx, or at the root of the answer to action @ctx
 * (the botocore service model's locationName of each). */
static const struct {
    const char *ctx, *key, *element;
} member_names[] = {
    {"Snapshots", "State", "status"},
    {"Snapshots", "StateMessage", "statusMessage"},
    {"CreateSnapshot", "State", "status"},
    {"CreateSnapshot", "StateMessage", "statusMessage"},
    {"Volumes", "State", "status"},
    {"CreateVolume", "State", "status"},
    {"Images", "State", "imageState"},
    {"Images", "OwnerId", "imageOwnerId"},
    {"Images", "Public", "isPublic"},
    {"DescribeSnapshotAttribute", "CreateVolumePermissions", "createVolumePermission"},
    {"DescribeImageAttribute", "KernelId", "kernel"},
    {"DescribeImageAttribute", "RamdiskId", "ramdisk"},
    {"DescribeLaunchTemplates", "LaunchTemplates", "launchTemplates"},
    {"NetworkInterfaces", "Ipv6Addresses", "ipv6AddressesSet"},
    {"NetworkInterfaces", "PrivateIpAddresses", "privateIpAddressesSet"},
    {"NetworkInterfaces", "Ipv4Prefixes", "ipv4PrefixSet"},
    {"NetworkInterfaces", "Ipv6Prefixes", "ipv6PrefixSet"},
    {"LaunchTemplateVersions", "LicenseSpecifications", "licenseSet"},
    {"LaunchTemplateVersions", "BlockDeviceMappings", "blockDeviceMappingSet"},
    {"CreateLaunchTemplateVersion", "BlockDeviceMappings", "blockDeviceMappingSet"},
    {"CreateLaunchTemplateVersion", "LicenseSpecifications", "licenseSet"},
};

static void put_name(struct render_buf *b, const char *ctx, const char *key, bool list)
{
    for (size_t i = 0; ctx && i < ARRAY_SIZE(member_names); i++)
        if (strcmp(member_names[i].ctx, ctx) == 0 && strcmp(member_names[i].key, key) == 0) {
            render_buf_puts(b, member_names[i].element);
            return;
        }
    put_name_as(b, key, list, true);
}

static void indent(struct render_buf *b, int depth)
{
    render_buf_repeat(b, ' ', 4 * (size_t)depth);
}

static void put_value(struct render_buf *b, const char *ctx, const json_t *v, int depth);

/* <NAME>value</NAME> for member @key (of an item of list @ctx, or of the
 * root of action @ctx's answer), on its own line(s). */
static void put_member(struct render_buf *b, const char *ctx, const char *key, const json_t *v,
                       int depth)
{
    bool list = json_is_array(v);

    indent(b, depth);
    render_buf_puts(b, "<");
    put_name(b, ctx, key, list);
    render_buf_puts(b, ">");
    put_value(b, list ? key : ctx, v, depth);
    render_buf_puts(b, "</");
    put_name(b, ctx, key, list);
    render_buf_puts(b, ">\n");
}

static void put_value(struct render_buf *b, const char *ctx, const json_t *v, int depth)
{
    const char *key;
    json_t *m;
    size_t i;

    if (json_is_object(v)) {
        render_buf_puts(b, "\n");
        json_object_foreach ((json_t *)v, key, m)
            put_member(b, ctx, key, m, depth + 1);
        indent(b, depth);
    } else if (json_is_array(v)) {
        render_buf_puts(b, "\n");
        json_array_foreach (v, i, m)
            put_member(b, ctx, "item", m, depth + 1);
        indent(b, depth);
    } else if (json_is_boolean(v)) {
        render_buf_puts(b, json_is_true(v) ? "true" : "false");
    } else if (!json_is_null(v)) {
        char *t = render_scalar_text(v);
        if (!t) {
            b->err = -ENOMEM;
            return;
        }
        put_text(b, t);
        free(t);
    }
}

int xml_emit(const json_t *doc, const char *title, char **ret_text)
{
    struct render_buf b = {0};
    const char *root = title ? title : "";
    const char *key;
    json_t *m;

    render_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    /* the root keeps its capital: EC2 writes <DescribeSnapshotsResponse> */
    if (root[0])
        put_name_as(&b, root, false, false);
    render_buf_puts(&b, "Response xmlns=\"" XML_NS "\">\n");
    if (json_is_object(doc)) {
        json_object_foreach ((json_t *)doc, key, m)
            put_member(&b, title, key, m, 1);
    } else {
        put_member(&b, title, "value", doc, 1);
    }
    render_buf_puts(&b, "</");
    if (root[0])
        put_name_as(&b, root, false, false);
    render_buf_puts(&b, "Response>\n");
    return render_buf_finish(&b, ret_text);
}
