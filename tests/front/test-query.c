/* test-query.c - --query's JMESPath subset (front/query.c): the examples
 * of the JMESPath specification and tutorial (jmespath.org) for each
 * piece of the subset, run on their documents, each result compared with
 * the one the reference implementation (python-jmespath 1.1) gives; the
 * forms scripts write against describe-snapshots; and the errors: syntax,
 * what is outside the subset, a function given a wrong type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bsfront.h"

struct example {
    const char *doc, *expr, *want; /* want: compact JSON */
};

/* input, expression, python-jmespath's result */
static const struct example examples[] = {
    {"{\"foo\": {\"bar\": \"baz\"}}", "foo", "{\"bar\":\"baz\"}"},
    {"{\"foo\": {\"bar\": \"baz\"}}", "foo.bar", "\"baz\""},
    {"{\"foo\": {\"bar\": \"baz\"}}", "bar", "null"},
    {"{\"foo\": {\"bar\": {\"baz\": \"correct\"}}}", "foo.bar.baz", "\"correct\""},
    {"{\"foo\": {\"bar\": \"value\"}}", "foo.bar.baz", "null"},
    {"{\"with space\": 1, \"foo\\\"bar\": 2}", "\"with space\"", "1"},
    {"{\"with space\": 1, \"foo\\\"bar\": 2}", "\"foo\\\"bar\"", "2"},
    {"{\"foo\": [0, 1]}", "foo.bar", "null"},
    {"[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]", "[1]", "\"b\""},
    {"[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]", "[-1]", "\"f\""},
    {"[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]", "[10]", "null"},
    {"{\"a\": {\"b\": {\"c\": [{\"d\": [0, [1, 2]]}, {\"d\": [3, 4]}]}}}", "a.b.c[0].d[1][0]", "1"},
    {"{\"foo\": \"bar\"}", "[0]", "null"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[0:5]", "[0,1,2,3,4]"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[5:10]", "[5,6,7,8,9]"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[:5]", "[0,1,2,3,4]"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[::2]", "[0,2,4,6,8]"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[::-1]", "[9,8,7,6,5,4,3,2,1,0]"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[-3:]", "[7,8,9]"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[8:2:-2]", "[8,6,4]"},
    {"[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "[20:]", "[]"},
    {"{\"a\": 1}", "[0:2]", "null"},
    {"{\"people\": [{\"first\": \"James\", \"last\": \"d\"}, {\"first\": \"Jacob\", \"last\": "
     "\"e\"}, {\"first\": \"Jayden\", \"last\": \"f\"}, {\"missing\": \"different\"}], \"foo\": "
     "{\"bar\": \"baz\"}}",
     "people[*].first", "[\"James\",\"Jacob\",\"Jayden\"]"},
    {"{\"people\": [{\"first\": \"James\", \"last\": \"d\"}, {\"first\": \"Jacob\", \"last\": "
     "\"e\"}, {\"first\": \"Jayden\", \"last\": \"f\"}, {\"missing\": \"different\"}], \"foo\": "
     "{\"bar\": \"baz\"}}",
     "people[:2].first", "[\"James\",\"Jacob\"]"},
    {"[{\"a\": 1}, {\"b\": 2}, {\"a\": 3}]", "[*].a", "[1,3]"},
    {"[{\"a\": 1}, {\"b\": 2}, {\"a\": 3}]", "[*]", "[{\"a\":1},{\"b\":2},{\"a\":3}]"},
    {"{\"foo\": \"bar\"}", "foo[*]", "null"},
    {"{\"ops\": {\"functionA\": {\"numArgs\": 2}, \"functionB\": {\"numArgs\": 3}, \"functionC\": "
     "{\"variadic\": true}}}",
     "ops.*.numArgs", "[2,3]"},
    {"{\"a\": {\"x\": 1}, \"b\": {\"x\": 2}}", "*.x", "[1,2]"},
    {"{\"reservations\": [{\"instances\": [{\"state\": \"running\"}, {\"state\": \"stopped\"}]}, "
     "{\"instances\": [{\"state\": \"terminated\"}, {\"state\": \"running\"}]}]}",
     "reservations[*].instances[*].state",
     "[[\"running\",\"stopped\"],[\"terminated\",\"running\"]]"},
    {"{\"reservations\": [{\"instances\": [{\"state\": \"running\"}, {\"state\": \"stopped\"}]}, "
     "{\"instances\": [{\"state\": \"terminated\"}, {\"state\": \"running\"}]}]}",
     "reservations[].instances[].state", "[\"running\",\"stopped\",\"terminated\",\"running\"]"},
    {"[[0, 1], 2, [3], 4, [5, [6, 7]]]", "[]", "[0,1,2,3,4,5,[6,7]]"},
    {"[[0, 1], 2, [3], 4, [5, [6, 7]]]", "[][]", "[0,1,2,3,4,5,6,7]"},
    {"{\"a\": [[1, 2], [3]]}", "a[]", "[1,2,3]"},
    {"{\"machines\": [{\"name\": \"a\", \"state\": \"running\"}, {\"name\": \"b\", \"state\": "
     "\"stopped\"}, {\"name\": \"c\", \"state\": \"running\"}]}",
     "machines[?state=='running'].name", "[\"a\",\"c\"]"},
    {"{\"foo\": [{\"bar\": 1}, {\"bar\": 10}, {\"bar\": 5}]}", "foo[?bar > `3`]",
     "[{\"bar\":10},{\"bar\":5}]"},
    {"{\"foo\": [{\"bar\": 1}, {\"bar\": 10}, {\"bar\": 5}]}", "foo[?bar >= `5`].bar", "[10,5]"},
    {"{\"foo\": [{\"bar\": 1}, {\"bar\": 10}, {\"bar\": 5}]}", "foo[?bar < `5`]", "[{\"bar\":1}]"},
    {"{\"foo\": [{\"bar\": 1}, {\"bar\": 10}, {\"bar\": 5}]}", "foo[?bar <= `5`].bar", "[1,5]"},
    {"{\"foo\": [{\"bar\": 1}, {\"bar\": 10}, {\"bar\": 5}]}", "foo[?bar != `1`].bar", "[10,5]"},
    {"[{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 3}, {\"a\": 2, \"b\": 2}]",
     "[?a == `1` && b == `2`]", "[{\"a\":1,\"b\":2}]"},
    {"[{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 3}, {\"a\": 2, \"b\": 2}]",
     "[?a == `2` || b == `3`].b", "[3,2]"},
    {"[{\"a\": 1, \"b\": 2}, {\"a\": 1, \"b\": 3}, {\"a\": 2, \"b\": 2}]", "[?!(a == `1`)]",
     "[{\"a\":2,\"b\":2}]"},
    {"[{\"a\": \"x\"}, {\"a\": \"y\"}, {\"b\": \"z\"}]", "[?a]", "[{\"a\":\"x\"},{\"a\":\"y\"}]"},
    {"[{\"a\": \"x\"}, {\"a\": \"y\"}, {\"b\": \"z\"}]", "[?!a]", "[{\"b\":\"z\"}]"},
    {"{\"foo\": [{\"a\": \"1\"}, {\"a\": 1}]}", "foo[?a == '1']", "[{\"a\":\"1\"}]"},
    {"{\"foo\": [{\"a\": [1, 2]}, {\"a\": [1]}]}", "foo[?a == `[1, 2]`]", "[{\"a\":[1,2]}]"},
    {"{\"a\": \"x\"}", "a < 'y'", "true"},
    {"{}", "`\"foo\"`", "\"foo\""},
    {"{}", "`[1, {\"a\": true}]`", "[1,{\"a\":true}]"},
    {"{}", "'foo'", "\"foo\""},
    {"{}", "'it\\'s'", "\"it's\""},
    {"{}", "'a\\\\b'", "\"a\\\\\\\\b\""},
    {"{}", "`\"a\\`b\"`", "\"a`b\""},
    {"{\"foo\": null, \"bar\": \"b\"}", "foo || bar", "\"b\""},
    {"{\"foo\": \"f\", \"bar\": \"b\"}", "foo && bar", "\"b\""},
    {"{\"foo\": [], \"bar\": \"b\"}", "foo && bar", "[]"},
    {"{\"foo\": \"\"}", "!foo", "true"},
    {"{\"foo\": 0}", "!foo", "false"},
    {"{\"foo\": {\"bar\": \"a\", \"baz\": \"b\", \"qux\": \"c\"}}", "foo.[bar, baz]",
     "[\"a\",\"b\"]"},
    {"{\"foo\": {\"bar\": \"a\", \"baz\": \"b\", \"qux\": \"c\"}}", "foo.{bar: bar, q: qux}",
     "{\"bar\":\"a\",\"q\":\"c\"}"},
    {"{\"people\": [{\"name\": \"a\", \"age\": 1, \"x\": 0}, {\"name\": \"b\", \"age\": 2}]}",
     "people[*].[name, age]", "[[\"a\",1],[\"b\",2]]"},
    {"{\"people\": [{\"name\": \"a\", \"age\": 1, \"x\": 0}, {\"name\": \"b\", \"age\": 2}]}",
     "people[].{n: name, \"the age\": age}",
     "[{\"n\":\"a\",\"the age\":1},{\"n\":\"b\",\"the age\":2}]"},
    {"{\"foo\": null}", "foo.[bar]", "null"},
    {"{\"foo\": {\"bar\": {\"baz\": \"one\"}}}", "foo.bar | baz", "\"one\""},
    {"{\"foo\": [{\"bar\": 1}, {\"bar\": 2}]}", "foo[*].bar | [0]", "1"},
    {"{\"foo\": [{\"bar\": 1}, {\"bar\": 2}]}", "foo[*].bar[0]", "[]"},
    {"[1, 2]", "@", "[1,2]"},
    {"{\"a\": [1, 2]}", "a[?@ > `1`]", "[2]"},
    {"{\"a\": {\"b\": [1]}}", "(a.b)[0]", "1"},
    {"{\"a\": \"abc\", \"b\": [1, 2], \"c\": {\"x\": 1}}", "length(a)", "3"},
    {"{\"a\": \"abc\", \"b\": [1, 2], \"c\": {\"x\": 1}}", "length(b)", "2"},
    {"{\"a\": \"abc\", \"b\": [1, 2], \"c\": {\"x\": 1}}", "length(c)", "1"},
    {"{\"a\": \"h\\u00e9!\"}", "length(a)", "3"},
    {"{\"c\": {\"x\": 1, \"y\": 2}}", "keys(c)", "[\"x\",\"y\"]"},
    {"{\"c\": {\"x\": 1, \"y\": 2}}", "values(c)", "[1,2]"},
    {"{\"a\": [\"x\", \"y\"], \"s\": \"foobar\"}", "contains(a, 'y')", "true"},
    {"{\"a\": [\"x\", \"y\"], \"s\": \"foobar\"}", "contains(s, 'oba')", "true"},
    {"{\"a\": [\"x\", \"y\"], \"s\": \"foobar\"}", "contains(a, 'z')", "false"},
    {"{\"s\": \"foobar\"}", "starts_with(s, 'foo')", "true"},
    {"{\"s\": \"foobar\"}", "ends_with(s, 'foo')", "false"},
    {"{\"a\": [1, \"x\"]}", "to_string(a)", "\"[1,\\\"x\\\"]\""},
    {"{\"a\": \"x\"}", "to_string(a)", "\"x\""},
    {"{\"a\": \"12\", \"b\": \"1.5\", \"c\": \"x\"}", "[to_number(a), to_number(b), to_number(c)]",
     "[12,1.5,null]"},
    {"{\"a\": null}", "[type(a), type(`1`), type(`\"s\"`), type(`[]`), type(`{}`), type(`true`)]",
     "[\"null\",\"number\",\"string\",\"array\",\"object\",\"boolean\"]"},
    {"{\"a\": [1, 2, 3], \"s\": \"abc\"}", "[reverse(a), reverse(s)]", "[[3,2,1],\"cba\"]"},
    {"{\"a\": [\"x\", \"y\"]}", "join(', ', a)", "\"x, y\""},
    {"{\"a\": [3, 1, 2], \"b\": [\"b\", \"c\", \"a\"]}", "[sort(a), sort(b)]",
     "[[1,2,3],[\"a\",\"b\",\"c\"]]"},
    {"{\"a\": [3, 1, 2], \"b\": [\"b\", \"c\", \"a\"]}", "[max(a), min(a), max(b), min(b)]",
     "[3,1,\"c\",\"a\"]"},
    {"{\"a\": [3, 1, 2]}", "sum(a)", "6"},
    {"{\"a\": []}", "[max(a), sum(a)]", "[null,0]"},
    {"{\"people\": [{\"name\": \"b\", \"age\": 30}, {\"name\": \"a\", \"age\": 50}, {\"name\": "
     "\"c\", \"age\": 40}]}",
     "sort_by(people, &age)[].name", "[\"b\",\"c\",\"a\"]"},
    {"{\"people\": [{\"name\": \"b\", \"age\": 30}, {\"name\": \"a\", \"age\": 50}, {\"name\": "
     "\"c\", \"age\": 40}]}",
     "sort_by(people, &name)[-1].age", "40"},
    {"{\"people\": [{\"name\": \"b\", \"age\": 30}, {\"name\": \"a\", \"age\": 50}, {\"name\": "
     "\"c\", \"age\": 40}]}",
     "max_by(people, &age).name", "\"a\""},
    {"{\"people\": [{\"name\": \"b\", \"age\": 30}, {\"name\": \"a\", \"age\": 50}, {\"name\": "
     "\"c\", \"age\": 40}]}",
     "min_by(people, &age).name", "\"b\""},
    {"{\"a\": null, \"b\": 2}", "not_null(a, b)", "2"},
    {"{\"Snapshots\": [{\"SnapshotId\": \"snap-1\", \"State\": \"completed\", \"StartTime\": "
     "\"2026-01-02T00:00:00.000Z\"}, {\"SnapshotId\": \"snap-2\", \"State\": \"pending\", "
     "\"StartTime\": \"2026-01-03T00:00:00.000Z\"}, {\"SnapshotId\": \"snap-3\", \"State\": "
     "\"completed\", \"StartTime\": \"2026-01-01T00:00:00.000Z\"}]}",
     "Snapshots[?State=='completed'] | sort_by(@, &StartTime)[-1].SnapshotId", "\"snap-1\""},
    {"{\"Snapshots\": [{\"SnapshotId\": \"snap-1\", \"Tags\": [{\"Key\": \"env\", \"Value\": "
     "\"prod\"}]}, {\"SnapshotId\": \"snap-2\", \"Tags\": []}]}",
     "Snapshots[?Tags[?Key=='env' && Value=='prod']].SnapshotId", "[\"snap-1\"]"},
    {"{\"Snapshots\": [{\"SnapshotId\": \"snap-1\", \"VolumeSize\": 8}, {\"SnapshotId\": "
     "\"snap-2\", \"VolumeSize\": 16}]}",
     "length(Snapshots[?VolumeSize > `10`])", "1"},
};

/* Whether @a and @b are the same JSON, numbers compared as numbers
 * (python-jmespath's 3 and jansson's 3 and 3.0). */
static int same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

static void test_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        const struct example *x = &examples[i];
        json_t *doc = json_loads(x->doc, JSON_DECODE_ANY, NULL);
        json_t *want = json_loads(x->want, JSON_DECODE_ANY, NULL);
        json_t *got = NULL;
        bsf_query *q = NULL;
        char *text;

        assert_non_null(doc);
        assert_non_null(want);
        if (bsf_query_compile(x->expr, &q) < 0)
            fail_msg("%s: %s", x->expr, bsf_last_error()->message);
        if (bsf_query_run(q, doc, &got) < 0)
            fail_msg("%s: %s", x->expr, bsf_last_error()->message);
        text = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!same(got, want))
            fail_msg("%s on %s: %s, want %s", x->expr, x->doc, text, x->want);
        free(text);
        json_decref(got);
        json_decref(want);
        json_decref(doc);
        bsf_query_free(q);
    }
}

/* @expr fails to compile, the message naming each of @words. */
static void refused(const char *expr, const char *const *words)
{
    bsf_query *q = NULL;

    if (bsf_query_compile(expr, &q) == 0)
        fail_msg("'%s' compiled", expr);
    assert_string_equal(bsf_last_error()->code, "InvalidParameterValue");
    for (; *words; words++)
        if (!strstr(bsf_last_error()->message, *words))
            fail_msg("'%s': '%s' does not name '%s'", expr, bsf_last_error()->message, *words);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    refused("", (const char *const[]){"empty", NULL});
    refused("foo.", (const char *const[]){"character 5", NULL});
    refused("foo[?a=`1`]", (const char *const[]){"'='", "'=='", NULL});
    refused("foo[?a==`1`", (const char *const[]){"expected ']'", NULL});
    refused("foo[1:2:3:4]", (const char *const[]){"three parts", NULL});
    refused("foo[::0]", (const char *const[]){"step of 0", NULL});
    refused("`[1,`", (const char *const[]){"not JSON", NULL});
    refused("'abc", (const char *const[]){"not closed", NULL});
    refused("\"abc\"(a)", (const char *const[]){"quoted function name", NULL});
    refused("a b", (const char *const[]){"after the expression", NULL});
    refused("{a: b", (const char *const[]){"expected ',' or '}'", NULL});
    refused("a.#", (const char *const[]){"'#'", NULL});
    refused("length(a", (const char *const[]){"')'", NULL});
}

static void test_outside_the_subset(void **state)
{
    (void)state;
    refused("abs(a)", (const char *const[]){"abs()", "subset", "jq", NULL});
    refused("map(&a, b)", (const char *const[]){"map()", "subset", NULL});
    refused("let $x = a in $x", (const char *const[]){"variable", "subset", NULL});
}

/* Running @expr on @doc fails with a message naming @word. */
static void run_fails(const char *expr, const char *doc, const char *word)
{
    json_t *d = json_loads(doc, JSON_DECODE_ANY, NULL), *r = NULL;
    bsf_query *q = NULL;

    assert_int_equal(bsf_query_compile(expr, &q), 0);
    if (bsf_query_run(q, d, &r) == 0)
        fail_msg("'%s' ran", expr);
    assert_string_equal(bsf_last_error()->code, "InvalidParameterValue");
    if (!strstr(bsf_last_error()->message, word))
        fail_msg("'%s': '%s' does not name '%s'", expr, bsf_last_error()->message, word);
    bsf_query_free(q);
    json_decref(d);
}

static void test_invalid_type(void **state)
{
    (void)state;
    run_fails("length(a)", "{\"a\": 1}", "length(): invalid-type");
    run_fails("sort_by(a, &b)", "{\"a\": [{\"b\": 1}, {\"b\": \"x\"}]}", "sort_by()");
    run_fails("sort_by(a, b)", "{\"a\": []}", "expression reference");
    run_fails("length(&a)", "{\"a\": []}", "expression reference");
    run_fails("join(',', a)", "{\"a\": [1]}", "join()");
    run_fails("starts_with(a)", "{\"a\": \"x\"}", "takes 2 arguments");
    run_fails("&a", "{}", "outside a function");
}

static void test_deep(void **state)
{
    char expr[9000];
    bsf_query *q = NULL;
    size_t n = 0;

    (void)state;
    /* nesting and length are bounded: an error, never a deep recursion */
    for (int i = 0; i < 3000; i++)
        expr[n++] = '(';
    expr[n++] = 'a';
    expr[n] = '\0';
    assert_true(bsf_query_compile(expr, &q) < 0);
    n = 0;
    for (int i = 0; i < 2500; i++) {
        memcpy(expr + n, "a||", 3);
        n += 3;
    }
    expr[n++] = 'a';
    expr[n] = '\0';
    assert_true(bsf_query_compile(expr, &q) < 0);
    assert_string_equal(bsf_last_error()->code, "InvalidParameterValue");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_outside_the_subset),
        cmocka_unit_test(test_invalid_type),
        cmocka_unit_test(test_deep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
