from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("results", "0005_published_rows_without_key_checks"),
    ]

    operations = [
        migrations.AddField(
            model_name="computedresult",
            name="mark_keys",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="computedresult",
            name="marks",
            field=models.BinaryField(editable=False, null=True),
        ),
        # The computations made before kept no marks: false for them, true from now on.
        migrations.AddField(
            model_name="computation",
            name="marks_kept",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="computation",
            name="marks_kept",
            field=models.BooleanField(default=True),
        ),
    ]
