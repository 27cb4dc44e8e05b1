{%- set page_summary = "Placeholder page: PHP runs and reaches the database. Install Drupal to replace it (README)." %}
{%- set page_title = "development stack" %}
{%- set services = ["db"] %}
{%- set workers = [] %}
{%- set db_env = {"host": "DB_HOST", "port": "DB_PORT", "name": "DB_NAME", "user": "DB_USER", "password": "DB_PASSWORD"} %}
{%- set next_steps %}
  <h2>Install Drupal</h2>
  <p>Replace this placeholder with Drupal's recommended project (in the web container, as you):</p>
  <pre>devstack exec web -- sh -c 'rm -rf /var/www/html/web &amp;&amp; composer create-project drupal/recommended-project /var/www/html'</pre>
  <p>Then open this page again and use these database settings: host <code>db</code>, port
  <code>3306</code>, database <code><?= h(env_or('DB_NAME')) ?></code>, user
  <code><?= h(env_or('DB_USER')) ?></code>, and the password <code>DB_PASSWORD</code> from your
  <code>.env</code>. Drush: <code>devstack run composer require drush/drush</code>, then
  <code>devstack run drush status</code>.</p>
{%- endset %}
{{- shared("php/status-page.php") }}
