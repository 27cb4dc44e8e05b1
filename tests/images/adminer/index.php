<?php
// Adminer with what the official adminer image adds: the plugins in plugins-enabled/ and the
// "Server" field of the login form pre-filled with ADMINER_DEFAULT_SERVER (default "db").

namespace docker {
	function adminer_object() {
		final class DefaultServer extends \Adminer\Plugins {
			function loginFormField($name, $heading, $value) {
				$field = parent::loginFormField($name, $heading, $value);
				if ($name !== 'server') {
					return $field;
				}
				$server = getenv('ADMINER_DEFAULT_SERVER');
				$server = ($server === false || $server === '') ? 'db' : $server;
				return str_replace(
					'name="auth[server]" value=""',
					'name="auth[server]" value="' . htmlspecialchars($server, ENT_QUOTES) . '"',
					$field
				);
			}
		}

		$plugins = [];
		foreach (glob(__DIR__ . '/plugins-enabled/*.php') as $plugin) {
			$plugins[] = require $plugin;
		}
		return new DefaultServer($plugins);
	}
}

namespace {
	// The design chosen with ADMINER_DESIGN is linked as adminer.css next to this file.
	if (basename($_SERVER['REQUEST_URI'] ?? '') === 'adminer.css' && is_readable(__DIR__ . '/adminer.css')) {
		header('Content-Type: text/css');
		readfile(__DIR__ . '/adminer.css');
		exit;
	}

	function adminer_object() {
		return \docker\adminer_object();
	}

	require __DIR__ . '/adminer.php';
}
