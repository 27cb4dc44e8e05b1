<?php
/**
 * WordPress configuration that reads its settings from the container's environment
 * (devstack test stand-in for the official wordpress image; same variables and defaults).
 *
 * The entrypoint copies this file to wp-config.php when that is missing and a WORDPRESS_*
 * variable is set, replacing each "put your unique phrase here" with a random string. Each
 * setting comes from WORDPRESS_<NAME>_FILE (a file holding the value, for Docker secrets),
 * else WORDPRESS_<NAME>, else the default below, on every request.
 *
 * @package WordPress
 */

if ( ! function_exists( 'getenv_docker' ) ) {
	// WP-CLI may load this file twice.
	function getenv_docker( $env, $default ) {
		$file = getenv( $env . '_FILE' );
		if ( $file ) {
			return rtrim( file_get_contents( $file ), "\r\n" );
		}
		$value = getenv( $env );
		return false !== $value ? $value : $default;
	}
}

// ** Database settings ** //
define( 'DB_NAME', getenv_docker( 'WORDPRESS_DB_NAME', 'wordpress' ) );
define( 'DB_USER', getenv_docker( 'WORDPRESS_DB_USER', 'example username' ) );
define( 'DB_PASSWORD', getenv_docker( 'WORDPRESS_DB_PASSWORD', 'example password' ) );
define( 'DB_HOST', getenv_docker( 'WORDPRESS_DB_HOST', 'mysql' ) );
define( 'DB_CHARSET', getenv_docker( 'WORDPRESS_DB_CHARSET', 'utf8' ) );
define( 'DB_COLLATE', getenv_docker( 'WORDPRESS_DB_COLLATE', '' ) );

// ** Authentication keys and salts ** //
define( 'AUTH_KEY',         getenv_docker( 'WORDPRESS_AUTH_KEY',         'put your unique phrase here' ) );
define( 'SECURE_AUTH_KEY',  getenv_docker( 'WORDPRESS_SECURE_AUTH_KEY',  'put your unique phrase here' ) );
define( 'LOGGED_IN_KEY',    getenv_docker( 'WORDPRESS_LOGGED_IN_KEY',    'put your unique phrase here' ) );
define( 'NONCE_KEY',        getenv_docker( 'WORDPRESS_NONCE_KEY',        'put your unique phrase here' ) );
define( 'AUTH_SALT',        getenv_docker( 'WORDPRESS_AUTH_SALT',        'put your unique phrase here' ) );
define( 'SECURE_AUTH_SALT', getenv_docker( 'WORDPRESS_SECURE_AUTH_SALT', 'put your unique phrase here' ) );
define( 'LOGGED_IN_SALT',   getenv_docker( 'WORDPRESS_LOGGED_IN_SALT',   'put your unique phrase here' ) );
define( 'NONCE_SALT',       getenv_docker( 'WORDPRESS_NONCE_SALT',       'put your unique phrase here' ) );

$table_prefix = getenv_docker( 'WORDPRESS_TABLE_PREFIX', 'wp_' );

define( 'WP_DEBUG', ! ! getenv_docker( 'WORDPRESS_DEBUG', '' ) );

// Behind a TLS-terminating proxy: tell WordPress the page was requested over https.
if ( isset( $_SERVER['HTTP_X_FORWARDED_PROTO'] ) && false !== strpos( $_SERVER['HTTP_X_FORWARDED_PROTO'], 'https' ) ) {
	$_SERVER['HTTPS'] = 'on';
}

$config_extra = getenv_docker( 'WORDPRESS_CONFIG_EXTRA', '' );
if ( $config_extra ) {
	eval( $config_extra );
}

/* That's all, stop editing! Happy publishing. */

if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}

require_once ABSPATH . 'wp-settings.php';
