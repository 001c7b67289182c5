/* settings.h - which store the nbdkit plugin serves from, and as which
 * account: the CLI's precedence, in the plugin's words.  store= and
 * region= beat $BLOCKSNAP_STORE and $BLOCKSNAP_REGION, which beat the
 * profile's region (profile=, else $BLOCKSNAP_PROFILE, else "default") and
 * that region's store_path in the config file, else the engine's place for
 * the region (bsnap_store_resolve()); account= beats the profile's
 * blocksnap_account_id, else the store's account is the caller.
 *
 * Called from the plugin's .get_ready (one thread).  Errors are reported
 * with nbdkit_error() (naming the file, the profile or the region). */
#ifndef BSNAP_NBDKIT_SETTINGS_H
#define BSNAP_NBDKIT_SETTINGS_H

/* @store, @region, @profile, @account_flag: the plugin's parameters, or
 * NULL.  @ret_store_path out: malloc'd.  @ret_account out: malloc'd, or
 * NULL for the store's own account.  Returns 0, or -1 after nbdkit_error(). */
int settings_resolve(const char *store, const char *region, const char *profile,
                     const char *account_flag, char **ret_store_path, char **ret_account);

#endif
