/* test-retention.c - retention.c: the prune plan over a fake calendar (a
 * year of daily snapshots and a few hourly ones): exactly which survive
 * each rule set, and why. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blocksnap.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

/* Days since 1970-01-01 of a civil date (Howard Hinnant's
 * days-from-civil), so the test's calendar does not come from the code
 * under test. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t at(int64_t y, int m, int d, int hour, int minute)
{
    return days_from_civil(y, m, d) * DAY_MS + hour * HOUR_MS + minute * INT64_C(60000);
}

/* A year of daily snapshots at 10:00 UTC, 2026-01-01 to 2026-12-31, in a
 * shuffled order (the plan sorts them), id = "snap-" + the date. */
static bsnap_retention_item *year_of_dailies(size_t *ret_n)
{
    int64_t first = days_from_civil(2026, 1, 1), n = days_from_civil(2027, 1, 1) - first;
    bsnap_retention_item *v = calloc((size_t)n, sizeof *v);

    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (i * 7919) % n; /* 7919 is prime to 365: a permutation */
        int64_t ms = (first + k) * DAY_MS + 10 * HOUR_MS;
        v[i].time_ms = ms;
        snprintf(v[i].id, sizeof v[i].id, "snap-%05" PRId64, first + k);
    }
    *ret_n = (size_t)n;
    return v;
}

/* The ids the plan keeps, as "MM-DD" of 2026, newest first, space-separated,
 * checked against @want. */
static void assert_survivors(const bsnap_retention_item *v, size_t n, const char *want)
{
    char got[4096] = "";
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        if (!v[i].keep)
            continue;
        int64_t day = v[i].time_ms / DAY_MS;
        int m = 1, d = 1;
        while (m < 12 && days_from_civil(2026, m + 1, 1) <= day)
            m++;
        d = (int)(day - days_from_civil(2026, m, 1)) + 1;
        len += (size_t)snprintf(got + len, sizeof got - len, "%s%02d-%02d", len ? " " : "", m, d);
    }
    assert_string_equal(got, want);
}

static void plan_year(const bsnap_retention *rules, const char *want)
{
    size_t n;
    bsnap_retention_item *v = year_of_dailies(&n);

    assert_int_equal(bsnap_retention_plan(rules, v, n), 0);
    for (size_t i = 1; i < n; i++)
        assert_true(v[i - 1].time_ms > v[i].time_ms); /* sorted newest first */
    assert_survivors(v, n, want);
    free(v);
}

static void test_daily(void **state)
{
    (void)state;
    plan_year(&(bsnap_retention){.daily = 7}, "12-31 12-30 12-29 12-28 12-27 12-26 12-25");
}

/* ISO weeks start on Monday: 2026-12-28 is a Monday, so the newest week
 * holds 12-28..12-31 and the ones before end on the Sundays 27, 20, 13. */
static void test_weekly(void **state)
{
    (void)state;
    plan_year(&(bsnap_retention){.weekly = 4}, "12-31 12-27 12-20 12-13");
}

/* Months keep their last day; a year has one yearly bucket here. */
static void test_monthly_yearly(void **state)
{
    (void)state;
    plan_year(&(bsnap_retention){.monthly = 3, .yearly = 5}, "12-31 11-30 10-31");
    plan_year(&(bsnap_retention){.monthly = 12}, "12-31 11-30 10-31 09-30 08-31 07-31 06-30 "
                                                 "05-31 04-30 03-31 02-28 01-31");
}

/* The restic example: last 2, daily 3, weekly 2, monthly 2: the rules add
 * up, and each snapshot says which kept it. */
static void test_union_and_reasons(void **state)
{
    size_t n;
    bsnap_retention_item *v = year_of_dailies(&n);

    (void)state;
    assert_int_equal(
        bsnap_retention_plan(&(bsnap_retention){.last = 2, .daily = 3, .weekly = 2, .monthly = 2},
                             v, n),
        0);
    assert_survivors(v, n, "12-31 12-30 12-29 12-27 11-30");
    assert_int_equal(v[0].keep,
                     BSNAP_KEEP_LAST | BSNAP_KEEP_DAILY | BSNAP_KEEP_WEEKLY | BSNAP_KEEP_MONTHLY);
    assert_int_equal(v[1].keep, BSNAP_KEEP_LAST | BSNAP_KEEP_DAILY);
    assert_int_equal(v[2].keep, BSNAP_KEEP_DAILY);
    assert_int_equal(v[4].keep, BSNAP_KEEP_WEEKLY); /* 12-27 */
    free(v);
}

/* An image's snapshot stays whatever the rules say; it still fills its
 * bucket (restic's and borg's walk sees every snapshot). */
static void test_in_use(void **state)
{
    size_t n;
    bsnap_retention_item *v = year_of_dailies(&n);

    (void)state;
    for (size_t i = 0; i < n; i++)
        v[i].in_use = v[i].time_ms == at(2026, 3, 15, 10, 0);
    assert_int_equal(bsnap_retention_plan(&(bsnap_retention){.last = 1}, v, n), 0);
    assert_survivors(v, n, "12-31 03-15");
    for (size_t i = 0; i < n; i++)
        if (v[i].time_ms == at(2026, 3, 15, 10, 0))
            assert_int_equal(v[i].keep, BSNAP_KEEP_IN_USE);
    free(v);
}

/* keep-within counts back from the newest snapshot, not from a clock: a
 * timer that stopped for a month does not prune everything on its next
 * run. */
static void test_within(void **state)
{
    (void)state;
    plan_year(&(bsnap_retention){.within_ms = 3 * DAY_MS}, "12-31 12-30 12-29");
    plan_year(&(bsnap_retention){.within_ms = 3 * DAY_MS + 1}, "12-31 12-30 12-29 12-28");
}

/* Several snapshots in one hour: hourly keeps the newest of each hour; a
 * week that spans New Year is one bucket. */
static void test_hourly_and_week_across_years(void **state)
{
    bsnap_retention_item v[] = {
        {.id = "snap-a", .time_ms = at(2026, 1, 1, 9, 5)},
        {.id = "snap-b", .time_ms = at(2026, 1, 1, 9, 35)},
        {.id = "snap-c", .time_ms = at(2026, 1, 1, 9, 55)},
        {.id = "snap-d", .time_ms = at(2026, 1, 1, 8, 55)},
        {.id = "snap-e", .time_ms = at(2025, 12, 29, 8, 0)}, /* Monday, same ISO week */
        {.id = "snap-f", .time_ms = at(2025, 12, 28, 8, 0)}, /* Sunday, the week before */
    };
    size_t n = sizeof v / sizeof *v;

    (void)state;
    assert_int_equal(bsnap_retention_plan(&(bsnap_retention){.hourly = 2}, v, n), 0);
    assert_string_equal(v[0].id, "snap-c");
    assert_int_equal(v[0].keep, BSNAP_KEEP_HOURLY);
    assert_int_equal(v[1].keep, 0);
    assert_int_equal(v[2].keep, 0);
    assert_string_equal(v[3].id, "snap-d");
    assert_int_equal(v[3].keep, BSNAP_KEEP_HOURLY);
    assert_int_equal(v[4].keep, 0);

    assert_int_equal(bsnap_retention_plan(&(bsnap_retention){.weekly = 2, .yearly = 2}, v, n), 0);
    assert_int_equal(v[0].keep, BSNAP_KEEP_WEEKLY | BSNAP_KEEP_YEARLY);
    assert_int_equal(v[4].keep, BSNAP_KEEP_YEARLY); /* snap-e: 2025's newest, 2026's week */
    assert_string_equal(v[5].id, "snap-f");
    assert_int_equal(v[5].keep, BSNAP_KEEP_WEEKLY);
}

/* The same input planned twice keeps the same set: a second prune of what
 * survived the first deletes nothing. */
static void test_idempotent(void **state)
{
    size_t n, m = 0;
    bsnap_retention_item *v = year_of_dailies(&n);
    const bsnap_retention rules = {.daily = 10, .weekly = 8, .monthly = 6};

    (void)state;
    assert_int_equal(bsnap_retention_plan(&rules, v, n), 0);
    for (size_t i = 0; i < n; i++)
        if (v[i].keep)
            v[m++] = v[i];
    assert_int_equal(bsnap_retention_plan(&rules, v, m), 0);
    for (size_t i = 0; i < m; i++)
        assert_true(v[i].keep != 0);
    free(v);
}

static void test_no_rule(void **state)
{
    bsnap_retention_item v[1] = {{.id = "snap-a"}};

    (void)state;
    assert_int_equal(bsnap_retention_plan(&(bsnap_retention){0}, v, 1), -EINVAL);
    assert_string_equal(bsnap_last_error()->code, "InvalidParameterValue");
    assert_int_equal(bsnap_retention_plan(&(bsnap_retention){.within_ms = -1}, v, 1), -EINVAL);
    assert_int_equal(bsnap_retention_plan(&(bsnap_retention){.last = 1}, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daily),
        cmocka_unit_test(test_weekly),
        cmocka_unit_test(test_monthly_yearly),
        cmocka_unit_test(test_union_and_reasons),
        cmocka_unit_test(test_in_use),
        cmocka_unit_test(test_within),
        cmocka_unit_test(test_hourly_and_week_across_years),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_no_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
