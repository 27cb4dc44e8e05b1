{%- set page_summary = "Welcome page: PHP runs and reaches the database. Replace it with your application." %}
{%- set page_title = "development stack" %}
{%- set services = ["db"] %}
{%- set workers = [] %}
{%- set db_env = {"host": "DB_HOST", "port": "DB_PORT", "name": "DB_NAME", "user": "DB_USER", "password": "DB_PASSWORD"} %}
{%- set next_steps %}
  <h2>Next</h2>
  <p>This is <code>src/public/index.php</code>: replace it with your application. The document
  root is <code>src/public</code>; keep code and <code>vendor/</code> outside it, under
  <code>src/</code>. The database settings are in the environment:
  <code>getenv('DB_HOST')</code>, <code>DB_PORT</code>, <code>DB_NAME</code>,
  <code>DB_USER</code>, <code>DB_PASSWORD</code>.</p>
  <p>Composer: <code>devstack run composer require vendor/package</code>.</p>
{%- endset %}
{{- shared("php/status-page.php") }}
