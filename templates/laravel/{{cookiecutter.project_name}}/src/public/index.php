{%- set page_summary = "Placeholder page: PHP runs and reaches every service. Install Laravel to replace it (README)." %}
{%- set page_title = "Laravel development stack" %}
{%- set services = ["db", "redis"] %}
{%- set workers = ["queue", "scheduler"] %}
{%- set db_env = {"host": "DB_HOST", "port": "DB_PORT", "name": "DB_DATABASE", "user": "DB_USERNAME", "password": "DB_PASSWORD"} %}
{%- set next_steps %}
  <h2>Install Laravel</h2>
  <p>Laravel is not installed yet: this is a placeholder (<code>src/public/index.php</code>).
  Install the latest Laravel into <code>src/</code> (in the php container, as you):</p>
  <pre>{{ shared("laravel/install-command.sh") | e }}</pre>
  <p>Laravel then replaces this page. Its settings (<code>APP_KEY</code>, the database, Redis for
  the queue, cache and sessions) already come from <code>docker-compose.yml</code> and your
  <code>.env</code>; the queue and scheduler services switch to <code>php artisan</code> by
  themselves. Then: <code>devstack run artisan about</code>.</p>
{%- endset %}
{{- shared("php/status-page.php") }}
